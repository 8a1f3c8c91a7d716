-- Retention and legal holds (DESIGN §4, §10): hold records, hold storage, and the functions
-- through which ruaj_maintenance detaches and drops expired day partitions without owning the
-- event tables. Nothing here ever DELETEs from an event table.

-- Canonical JSON (RFC 8785, for the integers, strings, booleans and nulls ruaj's audit details
-- hold) of a jsonb value, so that SQL functions append audit entries byte-identical to what
-- store/audit.py's canonical_json makes. Keys are ASCII here, so "C" order is JCS order.
CREATE OR REPLACE FUNCTION ruaj.audit_canonical_json(p_value jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_text text;
BEGIN
    CASE jsonb_typeof(p_value)
    WHEN 'object' THEN
        SELECT '{' || coalesce(string_agg(to_json(k)::text || ':' || ruaj.audit_canonical_json(v),
                                          ',' ORDER BY k COLLATE "C"), '') || '}'
        INTO v_text FROM jsonb_each(p_value) AS e(k, v);
        RETURN v_text;
    WHEN 'array' THEN
        SELECT '[' || coalesce(string_agg(ruaj.audit_canonical_json(v), ',' ORDER BY n), '') || ']'
        INTO v_text FROM jsonb_array_elements(p_value) WITH ORDINALITY AS e(v, n);
        RETURN v_text;
    WHEN 'number' THEN
        IF p_value::text ~ '[.eE]' THEN
            RAISE EXCEPTION 'audit details hold no fractional numbers' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN p_value::text;
    ELSE
        RETURN p_value::text;  -- strings (JSON-escaped as JCS does), true, false, null
    END CASE;
END
$$;

-- RFC 3339 UTC text of an instant, microseconds, as audit details write times.
CREATE OR REPLACE FUNCTION ruaj.audit_time(p_at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- Digest naming an identifier in audit details: store.audit.identifier_digest's SHA-256 of
-- "kind:value", hex.
CREATE FUNCTION ruaj.identifier_digest(p_kind text, p_value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT encode(sha256(convert_to(p_kind || ':' || p_value, 'UTF8')), 'hex') $$;

-- A preservation order (Budapest Convention art. 16). Active while state = 'active'; expiry
-- is applied by `ruaj maintain` (ruaj.hold_expire), release by an officer (ruaj.hold_release).
-- Rows are never deleted: the table is the history of every hold.
CREATE TABLE ruaj.legal_hold (
    hold_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference   text        NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
    range_from  timestamptz NOT NULL,
    range_to    timestamptz NOT NULL,
    categories  text[]      NOT NULL CHECK (cardinality(categories) > 0 AND categories <@
                                ARRAY['traffic', 'sms', 'imei', 'ip_session']),
    expires_at  timestamptz NOT NULL,
    state       text        NOT NULL DEFAULT 'active'
                            CHECK (state IN ('active', 'released', 'expired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name        NOT NULL DEFAULT session_user,
    ended_at    timestamptz,
    ended_by    name,
    CHECK (range_to > range_from),
    CHECK ((state = 'active') = (ended_at IS NULL))
);
CREATE INDEX legal_hold_active_idx ON ruaj.legal_hold (expires_at) WHERE state = 'active';

-- The identifiers a hold names, in clear: they are what its rows are matched on. public_ip
-- values are kept in inet's canonical text.
CREATE TABLE ruaj.legal_hold_identifier (
    hold_id bigint NOT NULL REFERENCES ruaj.legal_hold (hold_id),
    kind    text   NOT NULL CHECK (kind IN ('msisdn', 'imsi', 'imei', 'public_ip')),
    value   text   NOT NULL,
    PRIMARY KEY (hold_id, kind, value)
);
CREATE INDEX legal_hold_identifier_value_idx ON ruaj.legal_hold_identifier (kind, value);

-- Hold storage: rows of dropped partitions that an active hold covers, with every column of the
-- event table (same names and types) plus when they were copied. A row stays while any active
-- hold covers it (ruaj.hold_covers); the guarded read functions of disclosure read them.
CREATE TABLE ruaj.held_cdr (
    LIKE ruaj.cdr INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    held_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, start_time)
);
CREATE INDEX held_cdr_calling_number_idx ON ruaj.held_cdr (calling_number, start_time);
CREATE INDEX held_cdr_called_number_idx  ON ruaj.held_cdr (called_number, start_time);
CREATE INDEX held_cdr_served_imsi_idx    ON ruaj.held_cdr (served_imsi, start_time);
CREATE INDEX held_cdr_served_imei_idx    ON ruaj.held_cdr (served_imei, start_time);

CREATE TABLE ruaj.held_sms (
    LIKE ruaj.sms INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    held_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time)
);
CREATE INDEX held_sms_sender_idx      ON ruaj.held_sms (sender, event_time);
CREATE INDEX held_sms_recipient_idx   ON ruaj.held_sms (recipient, event_time);
CREATE INDEX held_sms_served_imsi_idx ON ruaj.held_sms (served_imsi, event_time);

CREATE TABLE ruaj.held_imei_observation (
    LIKE ruaj.imei_observation INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    held_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, observed_at)
);
CREATE INDEX held_imei_observation_imei_idx ON ruaj.held_imei_observation (imei, observed_at);
CREATE INDEX held_imei_observation_imsi_idx ON ruaj.held_imei_observation (imsi, observed_at);

CREATE TABLE ruaj.held_ip_session (
    LIKE ruaj.ip_session INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    held_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, event_time)
);
CREATE INDEX held_ip_session_public_ip_idx ON ruaj.held_ip_session (public_ip, event_time);
CREATE INDEX held_ip_session_msisdn_idx    ON ruaj.held_ip_session (msisdn, event_time);

-- Whether an active hold covers an event of `p_category` at `p_at` naming these identifiers.
CREATE FUNCTION ruaj.hold_covers(p_category text, p_at timestamptz, p_msisdns text[],
                                 p_imsi text, p_imei text, p_public_ip inet) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT FROM ruaj.legal_hold h
        JOIN ruaj.legal_hold_identifier i ON i.hold_id = h.hold_id
        WHERE h.state = 'active'
          AND p_category = ANY (h.categories)
          AND p_at >= h.range_from AND p_at < h.range_to
          AND CASE i.kind
                  WHEN 'msisdn'    THEN i.value = ANY (p_msisdns)
                  WHEN 'imsi'      THEN i.value = p_imsi
                  WHEN 'imei'      THEN i.value = p_imei
                  WHEN 'public_ip' THEN i.value = host(p_public_ip)
              END)
$$;

-- The hold_covers call for a row `e` of event table p_table (or of its hold storage): which
-- columns name an MSISDN, the IMSI, the IMEI and the public IP, and the table's category.
CREATE FUNCTION ruaj.hold_covers_sql(p_table text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE p_table
        WHEN 'cdr' THEN 'ruaj.hold_covers(''traffic'', e.start_time, ARRAY[e.calling_number, '
            'e.called_number, e.forwarded_to, e.served_msisdn], e.served_imsi, e.served_imei, NULL)'
        WHEN 'sms' THEN 'ruaj.hold_covers(''sms'', e.event_time, ARRAY[e.sender, e.recipient, '
            'e.served_msisdn], e.served_imsi, e.served_imei, NULL)'
        WHEN 'imei_observation' THEN 'ruaj.hold_covers(''imei'', e.observed_at, ARRAY[e.msisdn], '
            'e.imsi, e.imei, NULL)'
        WHEN 'ip_session' THEN 'ruaj.hold_covers(''ip_session'', e.event_time, ARRAY[e.msisdn], '
            'e.imsi, e.imei, e.public_ip)'
    END
$$;

CREATE FUNCTION ruaj.event_table_category(p_table text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE p_table WHEN 'cdr' THEN 'traffic' WHEN 'sms' THEN 'sms'
                        WHEN 'imei_observation' THEN 'imei' WHEN 'ip_session' THEN 'ip_session' END
$$;

-- Erases, from every hold storage table, the rows no active hold covers any more; returns
-- how many per table as a JSON object.
CREATE FUNCTION ruaj.held_erase_uncovered() RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table  text;
    v_n      bigint;
    v_counts jsonb := '{}';
BEGIN
    FOREACH v_table IN ARRAY ARRAY['cdr', 'sms', 'imei_observation', 'ip_session'] LOOP
        EXECUTE format('DELETE FROM ruaj.%I e WHERE NOT %s', 'held_' || v_table,
                       ruaj.hold_covers_sql(v_table));
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_counts := v_counts || jsonb_build_object(v_table, v_n);
    END LOOP;
    RETURN v_counts;
END
$$;

CREATE FUNCTION ruaj.hold_audit(p_kind text, p_details jsonb) RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ruaj.audit_append(p_kind, ruaj.audit_canonical_json(p_details)) $$;

-- Adds a hold and returns its id. p_identifiers: [{"kind": "msisdn", "value": "…"}, …];
-- p_categories NULL or empty means all four. Audited in the same transaction, identifiers as
-- digests only.
CREATE FUNCTION ruaj.hold_add(p_reference text, p_identifiers jsonb, p_from timestamptz,
                              p_to timestamptz, p_categories text[], p_expires timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id      bigint;
    v_item    jsonb;
    v_kind    text;
    v_value   text;
    v_cats    text[] := coalesce(nullif(p_categories, '{}'),
                                 ARRAY['traffic', 'sms', 'imei', 'ip_session']);
    v_digests jsonb := '[]';
BEGIN
    IF p_reference IS NULL OR btrim(p_reference) = '' THEN
        RAISE EXCEPTION 'a hold needs a reference' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RAISE EXCEPTION 'a hold''s range must end after it starts' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_expires IS NULL OR p_expires <= now() THEN
        RAISE EXCEPTION 'a hold''s expiry must be in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT v_cats <@ ARRAY['traffic', 'sms', 'imei', 'ip_session'] THEN
        RAISE EXCEPTION 'unknown category in % (known: traffic, sms, imei, ip_session)', v_cats
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(p_identifiers) IS DISTINCT FROM 'array' OR jsonb_array_length(p_identifiers) = 0 THEN
        RAISE EXCEPTION 'a hold names at least one identifier' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ruaj.legal_hold (reference, range_from, range_to, categories, expires_at)
    VALUES (p_reference, p_from, p_to, (SELECT array_agg(DISTINCT c ORDER BY c) FROM unnest(v_cats) c),
            p_expires)
    RETURNING hold_id INTO v_id;
    FOR v_item IN SELECT * FROM jsonb_array_elements(p_identifiers) LOOP
        v_kind := v_item ->> 'kind';
        v_value := v_item ->> 'value';
        IF v_kind = 'public_ip' THEN
            BEGIN
                v_value := host(v_value::inet);
            EXCEPTION WHEN invalid_text_representation THEN
                RAISE EXCEPTION 'public_ip identifier is not an IP address' USING ERRCODE = 'invalid_parameter_value';
            END;
        ELSIF v_kind = 'msisdn' AND (v_value IS NULL OR v_value !~ '^[1-9][0-9]{6,14}$') THEN
            RAISE EXCEPTION 'msisdn identifier is not E.164 digits without +' USING ERRCODE = 'invalid_parameter_value';
        ELSIF v_kind IN ('imsi', 'imei') AND (v_value IS NULL OR v_value !~ '^[0-9]{15}$') THEN
            RAISE EXCEPTION '% identifier is not 15 digits', v_kind USING ERRCODE = 'invalid_parameter_value';
        ELSIF v_kind IS NULL OR v_kind NOT IN ('msisdn', 'imsi', 'imei', 'public_ip') THEN
            RAISE EXCEPTION 'unknown identifier kind % (known: msisdn, imsi, imei, public_ip)', v_kind
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        INSERT INTO ruaj.legal_hold_identifier (hold_id, kind, value) VALUES (v_id, v_kind, v_value)
        ON CONFLICT DO NOTHING;
    END LOOP;
    SELECT jsonb_agg(jsonb_build_object('kind', kind, 'digest', ruaj.identifier_digest(kind, value))
                     ORDER BY kind, ruaj.identifier_digest(kind, value))
    INTO v_digests FROM ruaj.legal_hold_identifier WHERE hold_id = v_id;
    PERFORM ruaj.hold_audit('hold.added', jsonb_build_object(
        'hold_id', v_id, 'reference', p_reference, 'identifiers', v_digests,
        'from', ruaj.audit_time(p_from), 'to', ruaj.audit_time(p_to),
        'categories', (SELECT to_jsonb(categories) FROM ruaj.legal_hold WHERE hold_id = v_id),
        'expires', ruaj.audit_time(p_expires)));
    RETURN v_id;
END
$$;

-- Moves an active hold's expiry; audited.
CREATE FUNCTION ruaj.hold_renew(p_hold_id bigint, p_expires timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_hold ruaj.legal_hold;
BEGIN
    SELECT * INTO v_hold FROM ruaj.legal_hold WHERE hold_id = p_hold_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no hold %', p_hold_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_hold.state <> 'active' THEN
        RAISE EXCEPTION 'hold % is %, not active', p_hold_id, v_hold.state USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_expires IS NULL OR p_expires <= now() THEN
        RAISE EXCEPTION 'a hold''s expiry must be in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE ruaj.legal_hold SET expires_at = p_expires WHERE hold_id = p_hold_id;
    PERFORM ruaj.hold_audit('hold.renewed', jsonb_build_object(
        'hold_id', p_hold_id, 'reference', v_hold.reference,
        'expires', ruaj.audit_time(p_expires), 'previous_expires', ruaj.audit_time(v_hold.expires_at)));
END
$$;

-- Ends one active hold (released or expired), erases the held rows no other active hold
-- covers, and audits both in one entry.
CREATE FUNCTION ruaj.hold_end(p_hold_id bigint, p_state text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_hold   ruaj.legal_hold;
    v_erased jsonb;
BEGIN
    SELECT * INTO v_hold FROM ruaj.legal_hold WHERE hold_id = p_hold_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no hold %', p_hold_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_hold.state <> 'active' THEN
        RAISE EXCEPTION 'hold % is % already', p_hold_id, v_hold.state USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE ruaj.legal_hold SET state = p_state, ended_at = now(), ended_by = session_user
    WHERE hold_id = p_hold_id;
    v_erased := ruaj.held_erase_uncovered();
    PERFORM ruaj.hold_audit('hold.' || p_state, jsonb_build_object(
        'hold_id', p_hold_id, 'reference', v_hold.reference,
        'expires', ruaj.audit_time(v_hold.expires_at), 'erased_rows', v_erased));
    RETURN v_erased;
END
$$;

CREATE FUNCTION ruaj.hold_release(p_hold_id bigint) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ruaj.hold_end(p_hold_id, 'released') $$;

-- Expires every active hold whose expiry is at or before p_now (the maintenance pass's clock);
-- returns the ids expired, oldest expiry first.
CREATE FUNCTION ruaj.hold_expire(p_now timestamptz) RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    FOR v_id IN SELECT hold_id FROM ruaj.legal_hold
                WHERE state = 'active' AND expires_at <= p_now ORDER BY expires_at, hold_id LOOP
        PERFORM ruaj.hold_end(v_id, 'expired');
        RETURN NEXT v_id;
    END LOOP;
END
$$;

-- Rows in hold storage per event table (for `ruaj retention status`, without SELECT on them).
CREATE FUNCTION ruaj.held_row_counts() RETURNS TABLE (table_name text, held_rows bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['cdr', 'sms', 'imei_observation', 'ip_session'] LOOP
        table_name := v_table;
        EXECUTE format('SELECT count(*) FROM ruaj.%I', 'held_' || v_table) INTO held_rows;
        RETURN NEXT;
    END LOOP;
END
$$;

-- The partition name of a table and day, after checking both.
CREATE FUNCTION ruaj.partition_name(p_table text, p_day date) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_table IS NULL OR p_table NOT IN ('cdr', 'sms', 'imei_observation', 'ip_session') THEN
        RAISE EXCEPTION 'not an event table: %', p_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_day IS NULL OR p_day < DATE '2000-01-01' OR p_day > DATE '2999-12-31' THEN
        RAISE EXCEPTION 'partition day out of range: %', p_day USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_table || '_p' || to_char(p_day, 'YYYYMMDD');
END
$$;

-- Detaches one day partition for ruaj_maintenance, which does not own the event tables:
-- a plain DETACH (ACCESS EXCLUSIVE on the parent for a moment), under the caller's
-- lock_timeout, or FINALIZE of a concurrent detach that a killed pass left pending.
-- A login that owns the tables detaches CONCURRENTLY itself instead (store/retention.py).
-- Returns 'detached', 'finalized', 'detached already' or 'absent'.
CREATE FUNCTION ruaj.partition_detach(p_table text, p_day date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_part    text := ruaj.partition_name(p_table, p_day);
    v_pending boolean;
BEGIN
    IF to_regclass(format('ruaj.%I', v_part)) IS NULL THEN
        RETURN 'absent';
    END IF;
    SELECT i.inhdetachpending INTO v_pending FROM pg_inherits i
    WHERE i.inhrelid = format('ruaj.%I', v_part)::regclass;
    IF NOT FOUND THEN
        RETURN 'detached already';
    END IF;
    IF v_pending THEN
        EXECUTE format('ALTER TABLE ruaj.%I DETACH PARTITION ruaj.%I FINALIZE', p_table, v_part);
        RETURN 'finalized';
    END IF;
    EXECUTE format('ALTER TABLE ruaj.%I DETACH PARTITION ruaj.%I', p_table, v_part);
    RETURN 'detached';
END
$$;

-- Drops one detached day partition whose whole day lies before p_cutoff: first copies the
-- rows an active hold covers into hold storage, then drops it, and audits the drop (table,
-- day, rows, held rows) — all in the caller's transaction. Refuses a partition that is still
-- attached, so that a drop never takes a lock on the parent table.
CREATE FUNCTION ruaj.partition_drop(p_table text, p_day date, p_cutoff timestamptz)
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
    -- Only when some active hold reaches this category and day is the partition scanned.
    IF EXISTS (SELECT FROM ruaj.legal_hold h
               WHERE h.state = 'active' AND ruaj.event_table_category(p_table) = ANY (h.categories)
                 AND h.range_from < v_end AND h.range_to > v_end - interval '1 day') THEN
        EXECUTE format('INSERT INTO ruaj.%I SELECT e.*, now() FROM ruaj.%I e WHERE %s '
                       'ON CONFLICT DO NOTHING',
                       'held_' || p_table, v_part, ruaj.hold_covers_sql(p_table));
        GET DIAGNOSTICS held_rows = ROW_COUNT;
    END IF;
    EXECUTE format('SELECT count(*) FROM ruaj.%I', v_part) INTO dropped_rows;
    EXECUTE format('DROP TABLE ruaj.%I', v_part);
    PERFORM ruaj.hold_audit('retention.partition_dropped', jsonb_build_object(
        'table', p_table, 'day', to_char(p_day, 'YYYY-MM-DD'), 'rows', dropped_rows,
        'held_rows', held_rows));
    RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION ruaj.hold_add(text, jsonb, timestamptz, timestamptz, text[], timestamptz),
    ruaj.hold_renew(bigint, timestamptz), ruaj.hold_release(bigint), ruaj.hold_expire(timestamptz),
    ruaj.hold_end(bigint, text), ruaj.held_erase_uncovered(), ruaj.hold_audit(text, jsonb),
    ruaj.held_row_counts(), ruaj.partition_detach(text, date),
    ruaj.partition_drop(text, date, timestamptz) FROM PUBLIC;
-- Officers add holds (preservation tasks of orders) and release them; maintenance expires them
-- and drops partitions.
GRANT EXECUTE ON FUNCTION
    ruaj.hold_add(text, jsonb, timestamptz, timestamptz, text[], timestamptz),
    ruaj.hold_renew(bigint, timestamptz), ruaj.hold_release(bigint)
    TO ruaj_maintenance, ruaj_officer;
GRANT EXECUTE ON FUNCTION ruaj.hold_expire(timestamptz), ruaj.held_row_counts(),
    ruaj.partition_detach(text, date), ruaj.partition_drop(text, date, timestamptz)
    TO ruaj_maintenance;
GRANT SELECT ON ruaj.legal_hold TO ruaj_maintenance, ruaj_officer, ruaj_auditor;
GRANT SELECT ON ruaj.legal_hold_identifier TO ruaj_maintenance, ruaj_officer;
