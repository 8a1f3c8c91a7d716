-- The audit head only ever moves forward by one (DESIGN §5, issue 3). ruaj.audit_append is
-- the one writer of ruaj.audit_head; a reset (to re-use indexes after rows were removed) or a
-- jump (to leave a gap) is refused even for the table owner, who still holds UPDATE on the
-- head because the SECURITY DEFINER append runs as the owner. A superuser can disable the
-- trigger; the signed checkpoints outside the database and `ruaj audit verify` catch what
-- follows.

CREATE FUNCTION ruaj.audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.next_idx IS DISTINCT FROM OLD.next_idx + 1 OR NEW.singleton IS DISTINCT FROM OLD.singleton THEN
        RAISE EXCEPTION 'ruaj.audit_head moves forward by one: % to % refused', OLD.next_idx, NEW.next_idx
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON ruaj.audit_head
    FOR EACH ROW EXECUTE FUNCTION ruaj.audit_head_forward_only();

