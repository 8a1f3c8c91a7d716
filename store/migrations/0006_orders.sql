-- Disclosure orders (DESIGN §5, issue 6): the authorities whose orders are accepted, the orders
-- with their exact signed bytes, their tasks, and the officers' approvals.
--
-- Every change of an order's state goes through one of the SECURITY DEFINER functions below;
-- officers (members of ruaj_officer) may read these tables and call those functions, nothing
-- else. The lifecycle and the four-eyes rule are enforced here, with session_user as the
-- officer who acts (SECURITY DEFINER does not change it), so a client that skips the `ruaj`
-- command gains nothing. Each function appends its audit entry in the same transaction.
--
-- Refusals that the officer must see (approval by the importer, a second approval by the same
-- officer, a wrong state) are audited and *returned* rather than raised: a raised error would
-- roll the audit entry of the refusal back with it.

CREATE TABLE ruaj.authority (
    authority_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    kind            text        NOT NULL CHECK (kind IN ('court', 'prosecutor')),
    -- PEM of the certificate(s) that signers of this authority must chain to; never the web PKI.
    trust_anchor    bytea       NOT NULL,
    -- DER of the authority's CRL, checked against the anchor before it is stored.
    crl             bytea,
    crl_this_update timestamptz,
    crl_next_update timestamptz,
    registered_by   name        NOT NULL DEFAULT session_user,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((crl IS NULL) = (crl_next_update IS NULL))
);

CREATE TABLE ruaj.disclosure_order (
    order_id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the exact document bytes: the same document is never registered twice.
    order_hash           bytea       NOT NULL UNIQUE CHECK (length(order_hash) = 32),
    -- NULL only for a document too malformed to read; such an order is rejected at once.
    order_reference      text,
    authority_id         bigint      REFERENCES ruaj.authority,
    state                text        NOT NULL CHECK (state IN ('received', 'verified', 'rejected',
                                         'approved', 'disclosed', 'expired', 'cancelled')),
    document             bytea       NOT NULL,
    signature            bytea       NOT NULL,
    valid_from           timestamptz,
    valid_until          timestamptz,
    recipient_agency     text,
    recipient_public_key text,
    legal_basis          text,
    issued_at            timestamptz,
    urgent               boolean,
    delay_subscriber_notice boolean,
    imported_by          name        NOT NULL DEFAULT session_user,
    imported_at          timestamptz NOT NULL DEFAULT now(),
    -- Filled when the signature verified: who signed, when, with which certificate.
    signer_subject       text,
    signer_certificate   bytea,
    signed_at            timestamptz,
    verified_at          timestamptz,
    approved_at          timestamptz,
    -- Why the order was rejected or cancelled: a code of a fixed vocabulary and the text.
    reason_code          text,
    reason               text,
    closed_by            name,
    state_changed_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until),
    CHECK (reason_code IS NULL OR reason_code ~ '^[a-z][a-z0-9_]{0,40}$')
);
CREATE INDEX disclosure_order_state_idx ON ruaj.disclosure_order (state, valid_until);

CREATE TABLE ruaj.order_task (
    order_id         bigint      NOT NULL REFERENCES ruaj.disclosure_order,
    task_id          text        NOT NULL CHECK (length(task_id) BETWEEN 1 AND 64),
    task_type        text        NOT NULL CHECK (task_type IN ('subscriber_data', 'traffic_data',
                                     'sms_data', 'equipment_data', 'ip_attribution', 'cell_dump',
                                     'preservation')),
    identifier_kind  text        NOT NULL CHECK (identifier_kind IN ('msisdn', 'imsi', 'imei',
                                     'public_ip', 'cell')),
    identifier_value text        NOT NULL,
    -- ip_attribution: one public port at one instant (RFC 6302); every other type: a range.
    port             integer     CHECK (port BETWEEN 0 AND 65535),
    observed_at      timestamptz,
    range_from       timestamptz,
    range_to         timestamptz,
    PRIMARY KEY (order_id, task_id),
    CHECK (CASE WHEN task_type = 'ip_attribution'
                THEN identifier_kind = 'public_ip' AND port IS NOT NULL AND observed_at IS NOT NULL
                     AND range_from IS NULL AND range_to IS NULL
                ELSE port IS NULL AND observed_at IS NULL AND range_from < range_to END)
);

CREATE TABLE ruaj.order_approval (
    order_id    bigint      NOT NULL REFERENCES ruaj.disclosure_order,
    officer     name        NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, officer)
);

-- Audit details of an order: its hash, reference and state, never an identifier in clear.
CREATE FUNCTION ruaj.order_audit(p_kind text, p_order ruaj.disclosure_order, p_extra jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_details jsonb := jsonb_build_object(
        'order_id', p_order.order_id,
        'order_hash', encode(p_order.order_hash, 'hex'),
        'order_reference', p_order.order_reference,
        'state', p_order.state,
        'officer', session_user::text) || coalesce(p_extra, '{}'::jsonb);
BEGIN
    -- jsonb's text form is not canonical JSON; audit_append needs JCS (sorted keys, no spaces).
    RETURN ruaj.audit_append(p_kind, ruaj.canonical_json(v_details));
END
$$;

-- RFC 8785 canonical JSON of a jsonb value made of strings, integers, booleans, null, arrays and
-- objects (what store/audit.py's canonical_json makes): keys sorted, no insignificant spaces.
-- Keys here are ASCII, where code-point order equals JCS's UTF-16 order.
CREATE FUNCTION ruaj.canonical_json(p_value jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_parts text[] := '{}';
    v_key   text;
    v_item  jsonb;
BEGIN
    CASE jsonb_typeof(p_value)
    WHEN 'object' THEN
        FOR v_key IN SELECT k FROM jsonb_object_keys(p_value) AS k ORDER BY convert_to(k, 'UTF8') LOOP
            v_parts := v_parts || (to_json(v_key)::text || ':' || ruaj.canonical_json(p_value -> v_key));
        END LOOP;
        RETURN '{' || array_to_string(v_parts, ',') || '}';
    WHEN 'array' THEN
        FOR v_item IN SELECT e FROM jsonb_array_elements(p_value) AS e LOOP
            v_parts := v_parts || ruaj.canonical_json(v_item);
        END LOOP;
        RETURN '[' || array_to_string(v_parts, ',') || ']';
    WHEN 'string' THEN
        RETURN to_json(p_value #>> '{}')::text;
    WHEN 'number' THEN
        IF (p_value #>> '{}') !~ '^-?[0-9]+$' THEN
            RAISE EXCEPTION 'canonical JSON here holds integers only' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN p_value #>> '{}';
    ELSE
        RETURN p_value::text;  -- true, false, null
    END CASE;
END
$$;

-- Authorities are registered by an administrator (the owner role or a superuser), not by
-- officers: whoever registers a trust anchor decides whose signatures count.
CREATE FUNCTION ruaj.authority_add(p_name text, p_kind text, p_trust_anchor bytea, p_crl bytea,
                                   p_crl_this_update timestamptz, p_crl_next_update timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO ruaj.authority (name, kind, trust_anchor, crl, crl_this_update, crl_next_update)
    VALUES (p_name, p_kind, p_trust_anchor, p_crl, p_crl_this_update, p_crl_next_update)
    RETURNING authority_id INTO v_id;
    PERFORM ruaj.audit_append('authority.added', ruaj.canonical_json(jsonb_build_object(
        'authority_id', v_id, 'name', p_name, 'kind', p_kind,
        'trust_anchor_sha256', encode(sha256(p_trust_anchor), 'hex'),
        'crl_sha256', encode(sha256(p_crl), 'hex'),
        'crl_next_update', to_char(p_crl_next_update AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))));
    RETURN v_id;
END
$$;

-- A newer CRL replaces the registered one; an older one is refused (no rollback of revocations).
CREATE FUNCTION ruaj.authority_set_crl(p_name text, p_crl bytea, p_crl_this_update timestamptz,
                                       p_crl_next_update timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_auth ruaj.authority;
BEGIN
    SELECT * INTO v_auth FROM ruaj.authority WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no authority named %', p_name USING ERRCODE = 'no_data_found';
    END IF;
    IF v_auth.crl_this_update IS NOT NULL AND p_crl_this_update < v_auth.crl_this_update THEN
        RAISE EXCEPTION 'this CRL (issued %) is older than the registered one (issued %)',
            p_crl_this_update, v_auth.crl_this_update USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE ruaj.authority SET crl = p_crl, crl_this_update = p_crl_this_update,
                              crl_next_update = p_crl_next_update
    WHERE authority_id = v_auth.authority_id;
    PERFORM ruaj.audit_append('authority.crl', ruaj.canonical_json(jsonb_build_object(
        'authority_id', v_auth.authority_id, 'name', p_name,
        'crl_sha256', encode(sha256(p_crl), 'hex'),
        'crl_next_update', to_char(p_crl_next_update AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))));
    RETURN v_auth.authority_id;
END
$$;

-- Records an order as received. The columns and tasks are read here from the exact document
-- bytes (never taken from the client), so what the guarded functions later enforce is what
-- the authority signed. p_well_formed says the document passed the JSON Schema; when false the
-- bytes are only kept (for the record) and the caller rejects the order at once.
-- Returns (order_id, duplicate): a document already registered is not stored again; its
-- refusal is audited and the existing order's id returned with duplicate = true.
CREATE FUNCTION ruaj.order_receive(p_document bytea, p_signature bytea, p_well_formed boolean)
RETURNS TABLE (order_id bigint, duplicate boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_hash  bytea := sha256(p_document);
    v_doc   jsonb;
    v_order ruaj.disclosure_order;
    v_task  jsonb;
BEGIN
    SELECT * INTO v_order FROM ruaj.disclosure_order o WHERE o.order_hash = v_hash;
    IF FOUND THEN
        PERFORM ruaj.order_audit('order.refused', v_order,
            jsonb_build_object('action', 'import', 'reason_code', 'duplicate'));
        RETURN QUERY SELECT v_order.order_id, true;
        RETURN;
    END IF;
    IF p_well_formed THEN
        v_doc := convert_from(p_document, 'UTF8')::jsonb;
        INSERT INTO ruaj.disclosure_order AS o (
            order_hash, order_reference, authority_id, state, document, signature,
            valid_from, valid_until, recipient_agency, recipient_public_key, legal_basis,
            issued_at, urgent, delay_subscriber_notice)
        VALUES (v_hash, v_doc ->> 'order_reference',
                (SELECT a.authority_id FROM ruaj.authority a
                 WHERE a.name = v_doc #>> '{issuing_authority,name}'),
                'received', p_document, p_signature,
                (v_doc ->> 'valid_from')::timestamptz, (v_doc ->> 'valid_until')::timestamptz,
                v_doc #>> '{recipient,agency}', v_doc #>> '{recipient,public_key}',
                v_doc ->> 'legal_basis', (v_doc ->> 'issued_at')::timestamptz,
                (v_doc ->> 'urgent')::boolean, (v_doc ->> 'delay_subscriber_notice')::boolean)
        ON CONFLICT (order_hash) DO NOTHING
        RETURNING * INTO v_order;
    ELSE
        INSERT INTO ruaj.disclosure_order AS o (order_hash, state, document, signature)
        VALUES (v_hash, 'received', p_document, p_signature)
        ON CONFLICT (order_hash) DO NOTHING
        RETURNING * INTO v_order;
    END IF;
    IF v_order.order_id IS NULL THEN
        -- registered concurrently by someone else a moment ago
        SELECT * INTO v_order FROM ruaj.disclosure_order o WHERE o.order_hash = v_hash;
        PERFORM ruaj.order_audit('order.refused', v_order,
            jsonb_build_object('action', 'import', 'reason_code', 'duplicate'));
        RETURN QUERY SELECT v_order.order_id, true;
        RETURN;
    END IF;
    IF p_well_formed THEN
        FOR v_task IN SELECT t FROM jsonb_array_elements(v_doc -> 'tasks') AS t LOOP
            INSERT INTO ruaj.order_task (order_id, task_id, task_type, identifier_kind,
                                         identifier_value, port, observed_at, range_from, range_to)
            VALUES (v_order.order_id, v_task ->> 'task_id', v_task ->> 'type',
                    v_task #>> '{identifier,kind}', v_task #>> '{identifier,value}',
                    (v_task #>> '{identifier,port}')::integer,
                    (v_task #>> '{identifier,observed_at}')::timestamptz,
                    (v_task ->> 'from')::timestamptz, (v_task ->> 'to')::timestamptz);
        END LOOP;
    END IF;
    PERFORM ruaj.order_audit('order.received', v_order, jsonb_build_object(
        'tasks', (SELECT count(*) FROM ruaj.order_task t WHERE t.order_id = v_order.order_id),
        'authority_id', v_order.authority_id,
        'signature_sha256', encode(sha256(p_signature), 'hex')));
    RETURN QUERY SELECT v_order.order_id, false;
END
$$;

-- The signature verified (disclosure/verify.py): received → verified, by the officer who
-- imported it. An order with no authority, no tasks or past its validity cannot be verified.
CREATE FUNCTION ruaj.order_verified(p_order_id bigint, p_signer_subject text,
                                    p_signer_certificate bytea, p_signed_at timestamptz)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order ruaj.disclosure_order;
BEGIN
    SELECT * INTO v_order FROM ruaj.disclosure_order WHERE order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no order %', p_order_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_order.state <> 'received' OR v_order.imported_by <> session_user
       OR v_order.authority_id IS NULL OR v_order.valid_until <= now() OR v_order.valid_from > now()
       OR NOT EXISTS (SELECT FROM ruaj.order_task t WHERE t.order_id = p_order_id) THEN
        RAISE EXCEPTION 'order % cannot be marked verified (state %, imported by %)',
            p_order_id, v_order.state, v_order.imported_by USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE ruaj.disclosure_order
    SET state = 'verified', signer_subject = p_signer_subject,
        signer_certificate = p_signer_certificate, signed_at = p_signed_at,
        verified_at = now(), state_changed_at = now()
    WHERE order_id = p_order_id RETURNING * INTO v_order;
    PERFORM ruaj.order_audit('order.verified', v_order, jsonb_build_object(
        'signer_certificate_sha256', encode(sha256(p_signer_certificate), 'hex'),
        'signed_at', to_char(p_signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
    RETURN v_order.state;
END
$$;

-- Rejects an order: by verification (the importer, from `received`) with a reason of the fixed
-- vocabulary, or by an officer's decision (from `received` or `verified`, code 'officer').
-- Returns the new state, or NULL with an audited refusal when the order cannot be rejected.
CREATE FUNCTION ruaj.order_reject(p_order_id bigint, p_reason_code text, p_reason text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order ruaj.disclosure_order;
BEGIN
    IF p_reason IS NULL OR length(btrim(p_reason)) = 0 THEN
        RAISE EXCEPTION 'a rejection needs a reason' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_order FROM ruaj.disclosure_order WHERE order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no order %', p_order_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_order.state NOT IN ('received', 'verified') THEN
        PERFORM ruaj.order_audit('order.refused', v_order, jsonb_build_object(
            'action', 'reject', 'reason_code', 'wrong_state'));
        RETURN NULL;
    END IF;
    UPDATE ruaj.disclosure_order
    SET state = 'rejected', reason_code = p_reason_code, reason = p_reason,
        closed_by = session_user, state_changed_at = now()
    WHERE order_id = p_order_id RETURNING * INTO v_order;
    -- The reason is bound by its digest: an officer's free text stays in the order row, where
    -- officers and auditors read it, and out of the log that is handed to outsiders.
    PERFORM ruaj.order_audit('order.rejected', v_order, jsonb_build_object(
        'reason_code', p_reason_code,
        'reason_sha256', encode(sha256(convert_to(p_reason, 'UTF8')), 'hex')));
    RETURN v_order.state;
END
$$;

-- One officer's approval (four eyes): never the importer, never twice by the same officer;
-- the order becomes `approved` at the second distinct approval.
-- Returns (state, approvals, refused): refused is NULL, or the audited reason code.
CREATE FUNCTION ruaj.order_approve(p_order_id bigint)
RETURNS TABLE (state text, approvals integer, refused text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order  ruaj.disclosure_order;
    v_count  integer;
    v_refuse text;
BEGIN
    SELECT * INTO v_order FROM ruaj.disclosure_order o WHERE o.order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no order %', p_order_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT count(*) INTO v_count FROM ruaj.order_approval a WHERE a.order_id = p_order_id;
    v_refuse := CASE
        WHEN NOT pg_has_role(session_user, 'ruaj_officer', 'MEMBER') THEN 'not_officer'
        WHEN v_order.state <> 'verified' THEN 'wrong_state'
        WHEN v_order.valid_until <= now() THEN 'outside_validity'
        WHEN v_order.imported_by = session_user THEN 'importer_approval'
        WHEN EXISTS (SELECT FROM ruaj.order_approval a
                     WHERE a.order_id = p_order_id AND a.officer = session_user) THEN 'repeat_approval'
    END;
    IF v_refuse IS NOT NULL THEN
        PERFORM ruaj.order_audit('order.refused', v_order, jsonb_build_object(
            'action', 'approve', 'reason_code', v_refuse));
        RETURN QUERY SELECT v_order.state, v_count, v_refuse;
        RETURN;
    END IF;
    INSERT INTO ruaj.order_approval (order_id, officer) VALUES (p_order_id, session_user);
    v_count := v_count + 1;
    IF v_count >= 2 THEN
        UPDATE ruaj.disclosure_order o
        SET state = 'approved', approved_at = now(), state_changed_at = now()
        WHERE o.order_id = p_order_id RETURNING * INTO v_order;
    END IF;
    PERFORM ruaj.order_audit('order.approval', v_order, jsonb_build_object('approvals', v_count));
    RETURN QUERY SELECT v_order.state, v_count, NULL::text;
END
$$;

-- Cancels an order not yet disclosed (received, verified or approved). Returns the new state,
-- or NULL with an audited refusal.
CREATE FUNCTION ruaj.order_cancel(p_order_id bigint, p_reason text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order ruaj.disclosure_order;
BEGIN
    SELECT * INTO v_order FROM ruaj.disclosure_order WHERE order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no order %', p_order_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_order.state NOT IN ('received', 'verified', 'approved') THEN
        PERFORM ruaj.order_audit('order.refused', v_order, jsonb_build_object(
            'action', 'cancel', 'reason_code', 'wrong_state'));
        RETURN NULL;
    END IF;
    UPDATE ruaj.disclosure_order
    SET state = 'cancelled', reason_code = 'cancelled', reason = p_reason,
        closed_by = session_user, state_changed_at = now()
    WHERE order_id = p_order_id RETURNING * INTO v_order;
    PERFORM ruaj.order_audit('order.cancelled', v_order, jsonb_build_object(
        'reason_sha256', encode(sha256(convert_to(coalesce(p_reason, ''), 'UTF8')), 'hex')));
    RETURN v_order.state;
END
$$;

-- Every open order past its valid_until becomes `expired` (one audit entry each). The time is
-- the database's own: a caller cannot expire an order early or keep one alive. Returns the ids.
CREATE FUNCTION ruaj.order_expire()
RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order ruaj.disclosure_order;
BEGIN
    FOR v_order IN
        UPDATE ruaj.disclosure_order
        SET state = 'expired', state_changed_at = now()
        WHERE state IN ('received', 'verified', 'approved') AND valid_until <= now()
        RETURNING *
    LOOP
        PERFORM ruaj.order_audit('order.expired', v_order, NULL);
        RETURN NEXT v_order.order_id;
    END LOOP;
END
$$;

REVOKE ALL ON ruaj.authority, ruaj.disclosure_order, ruaj.order_task, ruaj.order_approval FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.order_audit(text, ruaj.disclosure_order, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.authority_add(text, text, bytea, bytea, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.authority_set_crl(text, bytea, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.order_receive(bytea, bytea, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.order_verified(bigint, text, bytea, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.order_reject(bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.order_approve(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.order_cancel(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.order_expire() FROM PUBLIC;

GRANT SELECT ON ruaj.authority, ruaj.disclosure_order, ruaj.order_task, ruaj.order_approval
    TO ruaj_officer, ruaj_auditor;
GRANT EXECUTE ON FUNCTION ruaj.order_receive(bytea, bytea, boolean),
                          ruaj.order_verified(bigint, text, bytea, timestamptz),
                          ruaj.order_reject(bigint, text, text),
                          ruaj.order_approve(bigint),
                          ruaj.order_cancel(bigint, text),
                          ruaj.order_expire()
    TO ruaj_officer;
-- `ruaj maintain` may expire orders on its rounds.
GRANT EXECUTE ON FUNCTION ruaj.order_expire() TO ruaj_maintenance;
GRANT SELECT ON ruaj.disclosure_order TO ruaj_maintenance;
