-- Execution of approved orders, enforced in the database (DESIGN §5, issue 6 item 4).
--
-- Officers (ruaj_officer) have no SELECT on event, hold or subscriber tables. They read data
-- only through the ruaj.disclose_<task type> functions below: SECURITY DEFINER, owned by
-- ruaj_owner, search_path pinned, EXECUTE revoked from PUBLIC and granted to ruaj_officer.
-- Each takes (order_id, task_id, identifier, from, to) and checks, here, that
--   * the caller is an officer, the order is approved and inside its validity,
--   * the task exists with that type, the identifier is the task's, and [from, to) lies
--     within the task's range (cell dumps: no longer than the policy's window),
-- and then returns the task's rows: event rows UNION the rows kept in hold storage
-- (ruaj.held_<table>, for partitions retention has dropped), one row per event_id.
-- A request outside scope raises insufficient_privilege and returns nothing.
--
-- Every read is recorded (ruaj.release_read, with its transaction) and audited
-- (`order.task_read`: order, task, type, row count — no identifier in clear).
-- ruaj.order_mark_disclosed then, in the same transaction, requires that every task of the
-- order was read in this transaction, moves the order to `disclosed` and appends the release
-- entry (`order.disclosed`: per task row counts and the package hash) whose audit receipt the
-- package carries. ruaj.release_check lets `ruaj order execute` learn of a refusal before any
-- read, with the refusal audited and committed (a raised error would roll the entry back).

-- Queries of one MSISDN must use an index on each party column; served_msisdn is not always a
-- party column (the third party of a forwarded call is served on its own leg).
CREATE INDEX cdr_served_msisdn_idx ON ruaj.cdr (served_msisdn, start_time);
CREATE INDEX sms_served_msisdn_idx ON ruaj.sms (served_msisdn, event_time);

-- Limits of the disclosure policy that the database enforces. Changed by the owner only.
CREATE TABLE ruaj.disclosure_limit (
    name  text     PRIMARY KEY,
    value interval NOT NULL CHECK (value > interval '0')
);
INSERT INTO ruaj.disclosure_limit (name, value) VALUES ('cell_dump_window', interval '2 hours');

-- Every guarded read: which officer read which task of which order, how many rows, and in
-- which transaction (order_mark_disclosed matches reads to the release by it).
CREATE TABLE ruaj.release_read (
    read_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id  bigint      NOT NULL REFERENCES ruaj.disclosure_order,
    task_id   text        NOT NULL,
    task_type text        NOT NULL,
    rows      bigint      NOT NULL CHECK (rows >= 0),
    read_by   name        NOT NULL DEFAULT session_user,
    read_at   timestamptz NOT NULL DEFAULT now(),
    xact      bigint      NOT NULL DEFAULT txid_current(),
    FOREIGN KEY (order_id, task_id) REFERENCES ruaj.order_task
);
CREATE INDEX release_read_order_idx ON ruaj.release_read (order_id, xact);

-- Why a request is outside scope, as a code of a fixed vocabulary, or NULL when it is inside.
-- p_task_type is the function asked for; p_identifier the identifier value asked for.
CREATE FUNCTION ruaj.release_scope(p_order_id bigint, p_task_id text, p_task_type text,
                                   p_identifier text, p_from timestamptz, p_to timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order ruaj.disclosure_order;
    v_task  ruaj.order_task;
BEGIN
    IF NOT pg_has_role(session_user, 'ruaj_officer', 'MEMBER') THEN
        RETURN 'not_officer';
    END IF;
    SELECT * INTO v_order FROM ruaj.disclosure_order o WHERE o.order_id = p_order_id;
    IF NOT FOUND THEN
        RETURN 'no_order';
    END IF;
    IF v_order.state <> 'approved' THEN
        RETURN 'not_approved';
    END IF;
    IF v_order.valid_until IS NULL OR v_order.valid_until <= now() OR v_order.valid_from > now() THEN
        RETURN 'outside_validity';
    END IF;
    SELECT * INTO v_task FROM ruaj.order_task t WHERE t.order_id = p_order_id AND t.task_id = p_task_id;
    IF NOT FOUND THEN
        RETURN 'no_task';
    END IF;
    IF v_task.task_type <> p_task_type THEN
        RETURN 'wrong_task_type';
    END IF;
    IF p_identifier IS DISTINCT FROM v_task.identifier_value THEN
        RETURN 'wrong_identifier';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
        RETURN 'outside_range';
    END IF;
    IF v_task.task_type = 'ip_attribution' THEN
        -- one instant: the one the order names
        IF p_from <> v_task.observed_at OR p_to <> v_task.observed_at THEN
            RETURN 'outside_range';
        END IF;
    ELSIF p_from < v_task.range_from OR p_to > v_task.range_to THEN
        RETURN 'outside_range';
    END IF;
    IF v_task.task_type = 'cell_dump' AND p_to - p_from > (
            SELECT l.value FROM ruaj.disclosure_limit l WHERE l.name = 'cell_dump_window') THEN
        RETURN 'window_too_long';
    END IF;
    RETURN NULL;
END
$$;

-- Raises insufficient_privilege unless the request is inside scope; returns the task.
CREATE FUNCTION ruaj.release_require(p_order_id bigint, p_task_id text, p_task_type text,
                                     p_identifier text, p_from timestamptz, p_to timestamptz)
RETURNS ruaj.order_task
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_refused text := ruaj.release_scope(p_order_id, p_task_id, p_task_type, p_identifier, p_from, p_to);
    v_task    ruaj.order_task;
BEGIN
    IF v_refused IS NOT NULL THEN
        RAISE EXCEPTION 'refused (%): % of order % task % is outside what the order allows',
            v_refused, p_task_type, p_order_id, p_task_id
            USING ERRCODE = 'insufficient_privilege', HINT = v_refused;
    END IF;
    SELECT * INTO v_task FROM ruaj.order_task t WHERE t.order_id = p_order_id AND t.task_id = p_task_id;
    RETURN v_task;
END
$$;

-- Records and audits one guarded read.
CREATE FUNCTION ruaj.release_record(p_task ruaj.order_task, p_rows bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO ruaj.release_read (order_id, task_id, task_type, rows)
    VALUES (p_task.order_id, p_task.task_id, p_task.task_type, p_rows);
    PERFORM ruaj.audit_append('order.task_read', ruaj.canonical_json(jsonb_build_object(
        'order_id', p_task.order_id, 'task_id', p_task.task_id, 'task_type', p_task.task_type,
        'rows', p_rows, 'officer', session_user::text)));
END
$$;

-- Checks a request without reading anything: NULL when inside scope, else the reason code,
-- with the refusal audited (`order.refused`, action execute) in the caller's transaction.
CREATE FUNCTION ruaj.release_check(p_order_id bigint, p_task_id text, p_task_type text,
                                   p_identifier text, p_from timestamptz, p_to timestamptz)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_refused text := ruaj.release_scope(p_order_id, p_task_id, p_task_type, p_identifier, p_from, p_to);
    v_order   ruaj.disclosure_order;
BEGIN
    IF v_refused IS NOT NULL THEN
        SELECT * INTO v_order FROM ruaj.disclosure_order o WHERE o.order_id = p_order_id;
        IF FOUND THEN
            PERFORM ruaj.order_audit('order.refused', v_order, jsonb_build_object(
                'action', 'execute', 'reason_code', v_refused, 'task_id', p_task_id));
        ELSE
            PERFORM ruaj.audit_append('order.refused', ruaj.canonical_json(jsonb_build_object(
                'action', 'execute', 'reason_code', v_refused, 'order_id', p_order_id,
                'officer', session_user::text)));
        END IF;
    END IF;
    RETURN v_refused;
END
$$;

-- The event functions below run their query with EXECUTE, so it is planned for the actual
-- identifier and range: partitions outside the range are pruned at plan time and each party
-- column's index is used (a generic plan of a CASE over the identifier kind would scan).
-- The predicate is chosen from fixed text by the task's kind, never built from input.

-- traffic_data: CDRs where the identifier is a party. MSISDN: calling, called, forwarded-to or
-- served number; IMSI: served IMSI; IMEI: served IMEI. Range on start_time, [from, to).
CREATE FUNCTION ruaj.disclose_traffic_data(p_order_id bigint, p_task_id text, p_identifier text,
                                           p_from timestamptz, p_to timestamptz)
RETURNS SETOF ruaj.cdr
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_task ruaj.order_task := ruaj.release_require(p_order_id, p_task_id, 'traffic_data',
                                                   p_identifier, p_from, p_to);
    v_match text := CASE v_task.identifier_kind
        WHEN 'msisdn' THEN '(x.calling_number = $1 OR x.called_number = $1 '
                           'OR x.forwarded_to = $1 OR x.served_msisdn = $1)'
        WHEN 'imsi' THEN 'x.served_imsi = $1'
        WHEN 'imei' THEN 'x.served_imei = $1' END;
    v_rows bigint;
BEGIN
    IF v_match IS NULL THEN
        RAISE EXCEPTION 'traffic_data by % is not supported', v_task.identifier_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH live AS (
            SELECT x.* FROM ruaj.cdr x
            WHERE x.start_time >= $2 AND x.start_time < $3 AND %1$s
        ), held AS (
            SELECT x.event_id, x.start_time, x.end_time, x.call_type, x.direction,
                   x.calling_number, x.called_number, x.forwarded_to, x.served_msisdn,
                   x.served_imsi, x.served_imei, x.cell_start, x.cell_end, x.end_reason,
                   x.network_element
            FROM ruaj.held_cdr x
            WHERE x.start_time >= $2 AND x.start_time < $3 AND %1$s
              AND NOT EXISTS (SELECT FROM live l WHERE l.event_id = x.event_id)
        )
        SELECT * FROM live UNION ALL SELECT * FROM held ORDER BY 2, 1
    $q$, v_match) USING p_identifier, p_from, p_to;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ruaj.release_record(v_task, v_rows);
END
$$;

-- sms_data: SMS where the identifier is a party (sender, recipient, served number; or the
-- served IMSI / IMEI). Never content: the tables hold none. Range on event_time.
CREATE FUNCTION ruaj.disclose_sms_data(p_order_id bigint, p_task_id text, p_identifier text,
                                       p_from timestamptz, p_to timestamptz)
RETURNS SETOF ruaj.sms
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_task ruaj.order_task := ruaj.release_require(p_order_id, p_task_id, 'sms_data',
                                                   p_identifier, p_from, p_to);
    v_match text := CASE v_task.identifier_kind
        WHEN 'msisdn' THEN '(x.sender = $1 OR x.recipient = $1 OR x.served_msisdn = $1)'
        WHEN 'imsi' THEN 'x.served_imsi = $1'
        WHEN 'imei' THEN 'x.served_imei = $1' END;
    v_rows bigint;
BEGIN
    IF v_match IS NULL THEN
        RAISE EXCEPTION 'sms_data by % is not supported', v_task.identifier_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH live AS (
            SELECT x.* FROM ruaj.sms x
            WHERE x.event_time >= $2 AND x.event_time < $3 AND %1$s
        ), held AS (
            SELECT x.event_id, x.event_time, x.direction, x.sender, x.recipient,
                   x.served_msisdn, x.served_imsi, x.served_imei, x.cell, x.message_type,
                   x.delivery_status, x.network_element
            FROM ruaj.held_sms x
            WHERE x.event_time >= $2 AND x.event_time < $3 AND %1$s
              AND NOT EXISTS (SELECT FROM live l WHERE l.event_id = x.event_id)
        )
        SELECT * FROM live UNION ALL SELECT * FROM held ORDER BY 2, 1
    $q$, v_match) USING p_identifier, p_from, p_to;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ruaj.release_record(v_task, v_rows);
END
$$;

-- equipment_data: IMEI observations of an IMEI, IMSI or MSISDN. Range on observed_at.
CREATE FUNCTION ruaj.disclose_equipment_data(p_order_id bigint, p_task_id text, p_identifier text,
                                             p_from timestamptz, p_to timestamptz)
RETURNS SETOF ruaj.imei_observation
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_task ruaj.order_task := ruaj.release_require(p_order_id, p_task_id, 'equipment_data',
                                                   p_identifier, p_from, p_to);
    v_match text := CASE v_task.identifier_kind
        WHEN 'msisdn' THEN 'x.msisdn = $1'
        WHEN 'imsi' THEN 'x.imsi = $1'
        WHEN 'imei' THEN 'x.imei = $1' END;
    v_rows bigint;
BEGIN
    IF v_match IS NULL THEN
        RAISE EXCEPTION 'equipment_data by % is not supported', v_task.identifier_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH live AS (
            SELECT x.* FROM ruaj.imei_observation x
            WHERE x.observed_at >= $2 AND x.observed_at < $3 AND %1$s
        ), held AS (
            SELECT x.event_id, x.observed_at, x.imei, x.imsi, x.msisdn, x.cell, x.reason,
                   x.network_element
            FROM ruaj.held_imei_observation x
            WHERE x.observed_at >= $2 AND x.observed_at < $3 AND %1$s
              AND NOT EXISTS (SELECT FROM live l WHERE l.event_id = x.event_id)
        )
        SELECT * FROM live UNION ALL SELECT * FROM held ORDER BY 2, 1
    $q$, v_match) USING p_identifier, p_from, p_to;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ruaj.release_record(v_task, v_rows);
END
$$;

-- cell_dump ("tower dump"): every call, SMS and IMEI observation at one cell in a short window
-- (ruaj.disclosure_limit 'cell_dump_window', default 2 h), live or held, as one list.
CREATE FUNCTION ruaj.disclose_cell_dump(p_order_id bigint, p_task_id text, p_identifier text,
                                        p_from timestamptz, p_to timestamptz)
RETURNS TABLE (source text, event_id uuid, event_time timestamptz, msisdn text, imsi text,
               imei text, cell text, direction text, other_party text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_task ruaj.order_task := ruaj.release_require(p_order_id, p_task_id, 'cell_dump',
                                                   p_identifier, p_from, p_to);
    v_rows bigint;
BEGIN
    IF v_task.identifier_kind <> 'cell' THEN
        RAISE EXCEPTION 'cell_dump needs a cell identifier' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH calls AS (
        SELECT c.event_id, c.start_time AS at, c.served_msisdn, c.served_imsi, c.served_imei,
               CASE WHEN c.cell_start = p_identifier THEN c.cell_start ELSE c.cell_end END AS cell,
               c.direction,
               CASE WHEN c.direction = 'ORIGINATING' THEN c.called_number ELSE c.calling_number END AS other
        FROM ruaj.cdr c
        WHERE c.start_time >= p_from AND c.start_time < p_to
          AND (c.cell_start = p_identifier OR c.cell_end = p_identifier)
        UNION ALL
        SELECT h.event_id, h.start_time, h.served_msisdn, h.served_imsi, h.served_imei,
               CASE WHEN h.cell_start = p_identifier THEN h.cell_start ELSE h.cell_end END,
               h.direction,
               CASE WHEN h.direction = 'ORIGINATING' THEN h.called_number ELSE h.calling_number END
        FROM ruaj.held_cdr h
        WHERE h.start_time >= p_from AND h.start_time < p_to
          AND (h.cell_start = p_identifier OR h.cell_end = p_identifier)
    ), texts AS (
        SELECT s.event_id, s.event_time AS at, s.served_msisdn, s.served_imsi, s.served_imei,
               s.cell, s.direction,
               CASE WHEN s.direction = 'MO' THEN s.recipient ELSE s.sender END AS other
        FROM ruaj.sms s
        WHERE s.event_time >= p_from AND s.event_time < p_to AND s.cell = p_identifier
        UNION ALL
        SELECT h.event_id, h.event_time, h.served_msisdn, h.served_imsi, h.served_imei, h.cell,
               h.direction, CASE WHEN h.direction = 'MO' THEN h.recipient ELSE h.sender END
        FROM ruaj.held_sms h
        WHERE h.event_time >= p_from AND h.event_time < p_to AND h.cell = p_identifier
    ), sightings AS (
        SELECT o.event_id, o.observed_at AS at, o.msisdn, o.imsi, o.imei, o.cell, o.reason,
               NULL::text AS other
        FROM ruaj.imei_observation o
        WHERE o.observed_at >= p_from AND o.observed_at < p_to AND o.cell = p_identifier
        UNION ALL
        SELECT h.event_id, h.observed_at, h.msisdn, h.imsi, h.imei, h.cell, h.reason, NULL::text
        FROM ruaj.held_imei_observation h
        WHERE h.observed_at >= p_from AND h.observed_at < p_to AND h.cell = p_identifier
    ), everything AS (
        SELECT DISTINCT ON (e.event_id) e.*
        FROM (SELECT 'cdr'::text AS src, x.* FROM calls x
              UNION ALL SELECT 'sms', y.* FROM texts y
              UNION ALL SELECT 'imei_observation', z.* FROM sightings z) e
        ORDER BY e.event_id
    )
    SELECT e.src, e.event_id, e.at, e.served_msisdn, e.served_imsi, e.served_imei, e.cell,
           e.direction, e.other
    FROM everything e
    ORDER BY e.at, e.event_id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ruaj.release_record(v_task, v_rows);
END
$$;

-- subscriber_data: the KYC record of whoever held the MSISDN or IMSI at any instant of the
-- range (ruaj.identity_holders), with the part of the range each held it.
CREATE FUNCTION ruaj.disclose_subscriber_data(p_order_id bigint, p_task_id text, p_identifier text,
                                              p_from timestamptz, p_to timestamptz)
RETURNS TABLE (subscriber_id text, held_from timestamptz, held_to timestamptz, given_name text,
               family_name text, personal_number text, address text, city text, email text,
               contact_number text, contract_start timestamptz, contract_end timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_task ruaj.order_task := ruaj.release_require(p_order_id, p_task_id, 'subscriber_data',
                                                   p_identifier, p_from, p_to);
    v_rows bigint;
BEGIN
    IF v_task.identifier_kind NOT IN ('msisdn', 'imsi') THEN
        RAISE EXCEPTION 'subscriber_data by % is not supported', v_task.identifier_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT h.subscriber_id, h.held_from, h.held_to, s.given_name, s.family_name,
           s.personal_number, s.address, s.city, s.email, s.contact_number, s.contract_start,
           s.contract_end
    FROM ruaj.identity_holders(v_task.identifier_kind, p_identifier, p_from, p_to) h
    JOIN ruaj.subscriber s ON s.subscriber_id = h.subscriber_id
    ORDER BY h.held_from, h.subscriber_id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ruaj.release_record(v_task, v_rows);
END
$$;

-- ip_attribution: the session(s) behind a public IP and port at the order's instant
-- (RFC 6302), with the subscriber; from = to = the order's observed_at.
CREATE FUNCTION ruaj.disclose_ip_attribution(p_order_id bigint, p_task_id text, p_identifier text,
                                             p_from timestamptz, p_to timestamptz)
RETURNS TABLE (session_id text, msisdn text, imsi text, imei text, private_ip inet,
               public_ip inet, public_port_first integer, public_port_last integer,
               session_start timestamptz, session_end timestamptz, subscriber_id text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_task ruaj.order_task := ruaj.release_require(p_order_id, p_task_id, 'ip_attribution',
                                                   p_identifier, p_from, p_to);
    v_ip   inet;
    v_rows bigint;
BEGIN
    BEGIN
        v_ip := p_identifier::inet;
    EXCEPTION WHEN invalid_text_representation THEN
        RAISE EXCEPTION 'the task''s identifier is not an IP address' USING ERRCODE = 'invalid_parameter_value';
    END;
    RETURN QUERY SELECT * FROM ruaj.ip_attribution(v_ip, v_task.port, v_task.observed_at);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    PERFORM ruaj.release_record(v_task, v_rows);
END
$$;

-- preservation: no data leaves; a legal hold (ruaj.hold_add, audited there) keeps the
-- identifier's rows of every category in the range for 90 days. Returns the hold.
CREATE FUNCTION ruaj.disclose_preservation(p_order_id bigint, p_task_id text, p_identifier text,
                                           p_from timestamptz, p_to timestamptz)
RETURNS TABLE (hold_id bigint, reference text, range_from timestamptz, range_to timestamptz,
               expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_task      ruaj.order_task := ruaj.release_require(p_order_id, p_task_id, 'preservation',
                                                        p_identifier, p_from, p_to);
    v_reference text;
    v_expires   timestamptz := now() + interval '90 days';
    v_hold      bigint;
BEGIN
    IF v_task.identifier_kind NOT IN ('msisdn', 'imsi', 'imei', 'public_ip') THEN
        RAISE EXCEPTION 'preservation of a % is not supported', v_task.identifier_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT coalesce(o.order_reference, 'order ' || o.order_id) || '/' || v_task.task_id
    INTO v_reference FROM ruaj.disclosure_order o WHERE o.order_id = p_order_id;
    v_hold := ruaj.hold_add(v_reference,
                            jsonb_build_array(jsonb_build_object('kind', v_task.identifier_kind,
                                                                 'value', p_identifier)),
                            p_from, p_to, NULL, v_expires);
    PERFORM ruaj.release_record(v_task, 1);
    RETURN QUERY SELECT v_hold, v_reference, p_from, p_to, v_expires;
END
$$;

-- The release: every task of the order was read in this transaction; the order becomes
-- `disclosed`, and the `order.disclosed` entry records each task's row count and the package
-- hash (hex SHA-256, disclosure/package.py). Returns that entry's index, for the receipt.
CREATE FUNCTION ruaj.order_mark_disclosed(p_order_id bigint, p_package_sha256 text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order  ruaj.disclosure_order;
    v_tasks  jsonb;
    v_unread text;
BEGIN
    IF NOT pg_has_role(session_user, 'ruaj_officer', 'MEMBER') THEN
        RAISE EXCEPTION 'only officers execute orders' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_package_sha256 IS NULL OR p_package_sha256 !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'the package hash is 64 lowercase hex digits' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_order FROM ruaj.disclosure_order o WHERE o.order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no order %', p_order_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_order.state <> 'approved' OR v_order.valid_until <= now() THEN
        RAISE EXCEPTION 'refused (not_approved): order % is %', p_order_id, v_order.state
            USING ERRCODE = 'insufficient_privilege', HINT = 'not_approved';
    END IF;
    SELECT min(t.task_id) INTO v_unread FROM ruaj.order_task t
    WHERE t.order_id = p_order_id
      AND NOT EXISTS (SELECT FROM ruaj.release_read r
                      WHERE r.order_id = t.order_id AND r.task_id = t.task_id
                        AND r.xact = txid_current());
    IF v_unread IS NOT NULL THEN
        RAISE EXCEPTION 'refused (task_not_read): task % of order % was not executed in this transaction',
            v_unread, p_order_id USING ERRCODE = 'insufficient_privilege', HINT = 'task_not_read';
    END IF;
    SELECT jsonb_agg(jsonb_build_object('task_id', r.task_id, 'task_type', r.task_type,
                                        'rows', r.rows) ORDER BY r.task_id)
    INTO v_tasks
    FROM (SELECT DISTINCT ON (x.task_id) x.task_id, x.task_type, x.rows
          FROM ruaj.release_read x
          WHERE x.order_id = p_order_id AND x.xact = txid_current()
          ORDER BY x.task_id, x.read_id DESC) r;
    UPDATE ruaj.disclosure_order o SET state = 'disclosed', state_changed_at = now()
    WHERE o.order_id = p_order_id RETURNING * INTO v_order;
    RETURN ruaj.order_audit('order.disclosed', v_order, jsonb_build_object(
        'package_sha256', p_package_sha256, 'tasks', v_tasks));
END
$$;

REVOKE ALL ON ruaj.disclosure_limit, ruaj.release_read FROM PUBLIC;
REVOKE ALL ON FUNCTION
    ruaj.release_scope(bigint, text, text, text, timestamptz, timestamptz),
    ruaj.release_require(bigint, text, text, text, timestamptz, timestamptz),
    ruaj.release_record(ruaj.order_task, bigint),
    ruaj.release_check(bigint, text, text, text, timestamptz, timestamptz),
    ruaj.disclose_traffic_data(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_sms_data(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_equipment_data(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_cell_dump(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_subscriber_data(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_ip_attribution(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_preservation(bigint, text, text, timestamptz, timestamptz),
    ruaj.order_mark_disclosed(bigint, text)
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    ruaj.release_check(bigint, text, text, text, timestamptz, timestamptz),
    ruaj.disclose_traffic_data(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_sms_data(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_equipment_data(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_cell_dump(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_subscriber_data(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_ip_attribution(bigint, text, text, timestamptz, timestamptz),
    ruaj.disclose_preservation(bigint, text, text, timestamptz, timestamptz),
    ruaj.order_mark_disclosed(bigint, text)
TO ruaj_officer;
GRANT SELECT ON ruaj.disclosure_limit TO ruaj_officer, ruaj_auditor;
GRANT SELECT ON ruaj.release_read TO ruaj_auditor;
