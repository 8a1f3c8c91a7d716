-- The document that accompanies an order (`ruaj order import … --document FILE`): typically the
-- court's reasoned decision or the prosecutor's request as a PDF, the human-readable file that
-- the signed JSON order carries out. It is not what the authority signed (the CMS signature
-- covers the JSON only) and it is not verified; it is kept with the order, and its SHA-256 is
-- bound into the audit log in the same transaction as the import, so what the officers read when
-- they approved cannot later be swapped.
--
-- One per order, attached by the officer who imports it while the order is `received` (in the
-- import's own transaction), never replaced.

CREATE TABLE ruaj.order_attachment (
    order_id    bigint      PRIMARY KEY REFERENCES ruaj.disclosure_order,
    content     bytea       NOT NULL CHECK (length(content) > 0),
    sha256      bytea       GENERATED ALWAYS AS (sha256(content)) STORED,
    size        bigint      GENERATED ALWAYS AS (length(content)) STORED,
    -- From the file's first bytes, not its name: 'application/pdf' or 'application/octet-stream'.
    media_type  text        NOT NULL CHECK (media_type ~ '^[a-z]+/[a-z0-9.+-]+$'),
    attached_by name        NOT NULL DEFAULT session_user,
    attached_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION ruaj.order_attach(p_order_id bigint, p_content bytea, p_media_type text)
RETURNS bytea
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_order ruaj.disclosure_order;
    v_hash  bytea;
BEGIN
    SELECT * INTO v_order FROM ruaj.disclosure_order WHERE order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no order %', p_order_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_order.state <> 'received' OR v_order.imported_by <> session_user THEN
        RAISE EXCEPTION 'a document is attached only by the importer, while the order is received'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO ruaj.order_attachment (order_id, content, media_type)
    VALUES (p_order_id, p_content, p_media_type)
    RETURNING sha256 INTO v_hash;
    PERFORM ruaj.order_audit('order.document', v_order, jsonb_build_object(
        'document_sha256', encode(v_hash, 'hex'),
        'document_bytes', length(p_content),
        'media_type', p_media_type));
    RETURN v_hash;
END
$$;

REVOKE ALL ON ruaj.order_attachment FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.order_attach(bigint, bytea, text) FROM PUBLIC;
GRANT SELECT ON ruaj.order_attachment TO ruaj_officer, ruaj_auditor;
GRANT EXECUTE ON FUNCTION ruaj.order_attach(bigint, bytea, text) TO ruaj_officer;
