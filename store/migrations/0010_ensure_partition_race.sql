-- ruaj.ensure_partition of 0001, made safe when two sessions create the same day at once.
--
-- 0001 re-checks for the partition after taking an advisory lock, but an advisory lock does not
-- make the waiting session read the catalog afresh, so it can miss the table the other session
-- has just committed and fail with duplicate_table (seen with two ingest workers meeting a new
-- day together). A duplicate now means "made by someone else": its name is returned.

CREATE OR REPLACE FUNCTION ruaj.ensure_partition(p_table text, p_day date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_part  text := p_table || '_p' || to_char(p_day, 'YYYYMMDD');
    v_from  timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    v_to    timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    v_owner name;
BEGIN
    IF p_table NOT IN ('cdr', 'sms', 'imei_observation', 'ip_session') THEN
        RAISE EXCEPTION 'not an event table: %', p_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_day IS NULL OR p_day < DATE '2000-01-01' OR p_day > DATE '2999-12-31' THEN
        RAISE EXCEPTION 'partition day out of range: %', p_day USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(format('ruaj.%I', v_part)) IS NOT NULL THEN
        RETURN v_part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ruaj.partition'), hashtext(v_part));
    IF to_regclass(format('ruaj.%I', v_part)) IS NOT NULL THEN
        RETURN v_part;  -- made by someone else while we waited
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE ruaj.%I (LIKE ruaj.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       v_part, p_table);
    EXCEPTION WHEN duplicate_table THEN
        RETURN v_part;  -- committed by someone else after our catalog was read
    END;
    SELECT c.relowner::regrole::name INTO v_owner FROM pg_class c WHERE c.oid = format('ruaj.%I', p_table)::regclass;
    IF v_owner <> current_user THEN
        EXECUTE format('ALTER TABLE ruaj.%I OWNER TO %I', v_part, v_owner);
    END IF;
    EXECUTE format('ALTER TABLE ruaj.%I ATTACH PARTITION ruaj.%I FOR VALUES FROM (%L) TO (%L)',
                   p_table, v_part, v_from, v_to);
    RETURN v_part;
END
$$;
