-- Rows under legal hold are copied out of an expired partition by index, not by scanning it.
--
-- 0004's ruaj.partition_drop evaluated ruaj.hold_covers() — a function with a subquery — for
-- every row of the partition before dropping it: 44 s for a day of 1 M CDRs
-- (bench/retention.py), hours for a real operator's day, in one transaction, its load felt by
-- ingestion meanwhile. The held rows are few and the partition is indexed on every column a
-- hold names, so they are now looked up per (hold, identifier, column) within the hold's range:
-- the same rows, found through the partition's indexes. What counts as covered is unchanged
-- (ruaj.hold_covers: an active hold of the table's category, the row's time in its range, one
-- of the row's MSISDN / IMSI / IMEI / public IP columns naming one of its identifiers).

-- The columns of an event table that a hold identifier of `p_kind` is matched against.
CREATE FUNCTION ruaj.hold_columns(p_table text, p_kind text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE p_table || ':' || p_kind
        WHEN 'cdr:msisdn' THEN ARRAY['calling_number', 'called_number', 'forwarded_to',
                                     'served_msisdn']
        WHEN 'cdr:imsi' THEN ARRAY['served_imsi']
        WHEN 'cdr:imei' THEN ARRAY['served_imei']
        WHEN 'sms:msisdn' THEN ARRAY['sender', 'recipient', 'served_msisdn']
        WHEN 'sms:imsi' THEN ARRAY['served_imsi']
        WHEN 'sms:imei' THEN ARRAY['served_imei']
        WHEN 'imei_observation:msisdn' THEN ARRAY['msisdn']
        WHEN 'imei_observation:imsi' THEN ARRAY['imsi']
        WHEN 'imei_observation:imei' THEN ARRAY['imei']
        WHEN 'ip_session:msisdn' THEN ARRAY['msisdn']
        WHEN 'ip_session:imsi' THEN ARRAY['imsi']
        WHEN 'ip_session:imei' THEN ARRAY['imei']
        WHEN 'ip_session:public_ip' THEN ARRAY['public_ip']
        ELSE ARRAY[]::text[]
    END
$$;

-- Copies the rows of (detached) partition p_part of p_table that an active hold covers into the
-- table's hold storage; returns how many were new there.
CREATE FUNCTION ruaj.hold_copy(p_table text, p_part text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_time   text := CASE p_table WHEN 'cdr' THEN 'start_time' WHEN 'sms' THEN 'event_time'
                              WHEN 'imei_observation' THEN 'observed_at'
                              WHEN 'ip_session' THEN 'event_time' END;
    v_column text;
    v_n      bigint;
    v_total  bigint := 0;
    r        record;
BEGIN
    IF v_time IS NULL THEN
        RAISE EXCEPTION 'not an event table: %', p_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR r IN SELECT i.kind, i.value, h.range_from, h.range_to
             FROM ruaj.legal_hold h JOIN ruaj.legal_hold_identifier i ON i.hold_id = h.hold_id
             WHERE h.state = 'active' AND ruaj.event_table_category(p_table) = ANY (h.categories)
             ORDER BY h.hold_id, i.kind, i.value LOOP
        FOREACH v_column IN ARRAY ruaj.hold_columns(p_table, r.kind) LOOP
            EXECUTE format(
                'INSERT INTO ruaj.%I SELECT e.*, now() FROM ruaj.%I e '
                'WHERE e.%I = $1::%s AND e.%I >= $2 AND e.%I < $3 ON CONFLICT DO NOTHING',
                'held_' || p_table, p_part, v_column,
                CASE r.kind WHEN 'public_ip' THEN 'inet' ELSE 'text' END, v_time, v_time)
            USING r.value, r.range_from, r.range_to;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_total := v_total + v_n;
        END LOOP;
    END LOOP;
    RETURN v_total;
END
$$;

CREATE OR REPLACE FUNCTION ruaj.partition_drop(p_table text, p_day date, p_cutoff timestamptz)
RETURNS TABLE (dropped_rows bigint, held_rows bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_part text := ruaj.partition_name(p_table, p_day);
    v_end  timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF p_cutoff IS NULL OR v_end > p_cutoff THEN
        RAISE EXCEPTION 'partition % is not wholly before the retention cutoff %', v_part, p_cutoff
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(format('ruaj.%I', v_part)) IS NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT FROM pg_inherits WHERE inhrelid = format('ruaj.%I', v_part)::regclass) THEN
        RAISE EXCEPTION 'partition % is still attached: detach it first', v_part
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    held_rows := 0;
    -- Only when some active hold reaches this category and day is anything looked up.
    IF EXISTS (SELECT FROM ruaj.legal_hold h
               WHERE h.state = 'active' AND ruaj.event_table_category(p_table) = ANY (h.categories)
                 AND h.range_from < v_end AND h.range_to > v_end - interval '1 day') THEN
        held_rows := ruaj.hold_copy(p_table, v_part);
    END IF;
    EXECUTE format('SELECT count(*) FROM ruaj.%I', v_part) INTO dropped_rows;
    EXECUTE format('DROP TABLE ruaj.%I', v_part);
    PERFORM ruaj.hold_audit('retention.partition_dropped', jsonb_build_object(
        'table', p_table, 'day', to_char(p_day, 'YYYY-MM-DD'), 'rows', dropped_rows,
        'held_rows', held_rows));
    RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION ruaj.hold_columns(text, text), ruaj.hold_copy(text, text) FROM PUBLIC;
