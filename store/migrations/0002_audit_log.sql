-- The append-only audit log (DESIGN §5). Every module appends through ruaj.audit_append in
-- its own transaction; entries are the leaves of an RFC 9162 Merkle tree (disclosure/merkle.py).

CREATE TABLE ruaj.audit_log (
    idx       bigint      PRIMARY KEY CHECK (idx >= 0),
    at        timestamptz NOT NULL,
    actor     text        NOT NULL,
    kind      text        NOT NULL,
    details   jsonb       NOT NULL,
    -- The exact leaf bytes: RFC 8785 (JCS) canonical JSON of {actor, at, details, index, kind}.
    entry     bytea       NOT NULL,
    -- SHA-256(0x00 || entry), the RFC 9162 leaf hash.
    leaf_hash bytea       NOT NULL CHECK (length(leaf_hash) = 32)
);

-- The next index. Appenders lock this one row until they commit or roll back, so indexes are
-- consecutive with no gaps (a rolled-back append gives its index back).
CREATE TABLE ruaj.audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    next_idx  bigint  NOT NULL CHECK (next_idx >= 0)
);
INSERT INTO ruaj.audit_head (singleton, next_idx) VALUES (true, 0);

-- Appends one entry in the caller's transaction and returns its index. p_details must be the
-- canonical JSON text of the details object (store/audit.py makes it); the key order of the
-- entry (actor, at, details, index, kind) is the JCS order, and to_json's string escaping is
-- the JCS one, so the whole entry is canonical. The actor is session_user: the database login
-- that acted, which SECURITY DEFINER does not change.
CREATE FUNCTION ruaj.audit_append(p_kind text, p_details text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_idx     bigint;
    v_at      timestamptz;
    v_details jsonb := p_details::jsonb;
    v_entry   bytea;
BEGIN
    IF p_kind IS NULL OR p_kind !~ '^[a-z][a-z0-9_.]{0,63}$' THEN
        RAISE EXCEPTION 'invalid audit entry kind: %', p_kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v_details) <> 'object' THEN
        RAISE EXCEPTION 'audit details must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE ruaj.audit_head SET next_idx = next_idx + 1 RETURNING next_idx - 1 INTO v_idx;
    v_at := date_trunc('microseconds', clock_timestamp());
    v_entry := convert_to(
        '{"actor":' || to_json(session_user::text)::text
        || ',"at":' || to_json(to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
        || ',"details":' || p_details
        || ',"index":' || v_idx::text
        || ',"kind":' || to_json(p_kind)::text
        || '}', 'UTF8');
    INSERT INTO ruaj.audit_log (idx, at, actor, kind, details, entry, leaf_hash)
    VALUES (v_idx, v_at, session_user, p_kind, v_details, v_entry,
            sha256('\x00'::bytea || v_entry));
    RETURN v_idx;
END
$$;

-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks (the owner included). A superuser
-- can still disable the triggers; that is what the signed checkpoints outside the database
-- and `ruaj audit verify` are for.
CREATE FUNCTION ruaj.audit_reject_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'ruaj.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON ruaj.audit_log
    FOR EACH ROW EXECUTE FUNCTION ruaj.audit_reject_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ruaj.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ruaj.audit_reject_change();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON ruaj.audit_head
    FOR EACH ROW EXECUTE FUNCTION ruaj.audit_reject_change();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON ruaj.audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION ruaj.audit_reject_change();

REVOKE ALL ON ruaj.audit_log, ruaj.audit_head FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON ruaj.audit_log FROM ruaj_owner;
REVOKE ALL ON FUNCTION ruaj.audit_append(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ruaj.audit_append(text, text) TO ruaj_maintenance, ruaj_officer;
GRANT SELECT ON ruaj.audit_log TO ruaj_auditor, ruaj_maintenance, ruaj_officer;
