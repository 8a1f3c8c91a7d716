-- Subscriber-data retention (issue 5 item 4), run by the `subscribers` step of `ruaj maintain`.
-- Two defects of 0005's erasure, found by the tests of that step:
--
-- 1. A replay of an erased subscriber's old events brought them back. 0005 refused only the
--    events at or before the erased contract end, but a subscriber's history goes on after it
--    (an identity released days after the TERMINATE, a KYC correction, a TERMINATE reported late
--    with an earlier contract_end); replaying those re-created a subscriber row with no contract
--    end, which no later pass would ever erase. An erasure now records `erased_through`, the
--    later of the erasure's horizon and the event time of the subscriber's latest change, and
--    every event of the subscriber at or before it is a duplicate. An event after it (newer
--    than anything the registry had, and less than a window old) is applied as new.
-- 2. A contract reopened after it ended (an UPSERT whose contract_start is after the
--    contract_end it leaves in place, UPSERT being a patch) was erased three years after the
--    old end, while the subscriber was a customer again. Such a subscriber is not due: erasure
--    waits for a contract_end at or after the latest contract_start.

ALTER TABLE ruaj.subscriber_erasure ADD COLUMN erased_through timestamptz;
COMMENT ON COLUMN ruaj.subscriber_erasure.erased_through IS
    'Every event of the subscriber at or before this instant is ignored (NULL on erasures made '
    'before 0012: their contract_end is used)';

CREATE OR REPLACE FUNCTION ruaj.subscriber_apply(
    p_event_id uuid[], p_event_time timestamptz[], p_subscriber_id text[], p_operation text[],
    p_given_name text[], p_family_name text[], p_personal_number text[], p_address text[],
    p_city text[], p_email text[], p_contact_number text[], p_contract_start timestamptz[],
    p_contract_end timestamptz[], p_identity_kind text[], p_identity_value text[])
RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_results text[] := '{}';
    v_erased  timestamptz;
    i         integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_event_id, 1), 0) LOOP
        -- greatest() ignores NULL: erasures made before 0012 fall back to their contract end.
        SELECT greatest(e.contract_end, e.erased_through) INTO v_erased
        FROM ruaj.subscriber_erasure e
        WHERE e.subscriber_digest = ruaj.subscriber_digest(p_subscriber_id[i]);
        IF v_erased IS NOT NULL AND p_event_time[i] <= v_erased THEN
            v_results := v_results || 'duplicate'::text;
            CONTINUE;
        END IF;
        BEGIN
            INSERT INTO ruaj.subscriber_change (
                event_id, event_time, subscriber_id, operation, given_name, family_name,
                personal_number, address, city, email, contact_number, contract_start,
                contract_end, identity_kind, identity_value)
            VALUES (p_event_id[i], p_event_time[i], p_subscriber_id[i], p_operation[i],
                    p_given_name[i], p_family_name[i], p_personal_number[i], p_address[i],
                    p_city[i], p_email[i], p_contact_number[i], p_contract_start[i],
                    p_contract_end[i], p_identity_kind[i], p_identity_value[i])
            ON CONFLICT (event_id) DO NOTHING;
            IF NOT FOUND THEN
                v_results := v_results || 'duplicate'::text;
                CONTINUE;
            END IF;
            IF p_operation[i] IN ('ASSIGN_IDENTITY', 'RELEASE_IDENTITY') THEN
                PERFORM ruaj.subscriber_identity_refold(p_subscriber_id[i], p_identity_kind[i],
                                                        p_identity_value[i]);
            END IF;
            PERFORM ruaj.subscriber_refold(p_subscriber_id[i]);
            v_results := v_results || 'stored'::text;
        EXCEPTION WHEN exclusion_violation THEN
            v_results := v_results || 'identity_overlap'::text;
        END;
    END LOOP;
    RETURN v_results;
END
$$;

-- Subscribers erasure is due for: contract ended at or before p_horizon (now − the subscriber
-- window) and not reopened since, oldest end first. p_limit NULL: all of them.
CREATE OR REPLACE FUNCTION ruaj.subscriber_erasure_due(p_horizon timestamptz, p_limit integer)
RETURNS TABLE (subscriber_id text, contract_end timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.subscriber_id, s.contract_end FROM ruaj.subscriber s
    WHERE s.contract_end <= p_horizon
      AND (s.contract_start IS NULL OR s.contract_start <= s.contract_end)
    ORDER BY s.contract_end, s.subscriber_id
    LIMIT p_limit
$$;

-- Erases one subscriber who is due at p_horizon: KYC row, identity history, change log; records
-- the digest and through when their events are ignored from now on. Returns how many identity
-- ranges and changes went, or no row when the subscriber is not (or no longer) due. The caller
-- audits it in the same transaction (store/registry.py).
CREATE OR REPLACE FUNCTION ruaj.subscriber_erase(p_subscriber_id text, p_horizon timestamptz)
RETURNS TABLE (contract_end timestamptz, identities bigint, changes bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_end     timestamptz;
    v_changed timestamptz;
BEGIN
    DELETE FROM ruaj.subscriber s
    WHERE s.subscriber_id = p_subscriber_id AND s.contract_end <= p_horizon
      AND (s.contract_start IS NULL OR s.contract_start <= s.contract_end)
    RETURNING s.contract_end, s.changed_at INTO v_end, v_changed;
    IF v_end IS NULL THEN
        RETURN;
    END IF;
    contract_end := v_end;
    DELETE FROM ruaj.subscriber_identity i WHERE i.subscriber_id = p_subscriber_id;
    GET DIAGNOSTICS identities = ROW_COUNT;
    DELETE FROM ruaj.subscriber_change c WHERE c.subscriber_id = p_subscriber_id;
    GET DIAGNOSTICS changes = ROW_COUNT;
    INSERT INTO ruaj.subscriber_erasure AS e (subscriber_digest, contract_end, erased_through)
    VALUES (ruaj.subscriber_digest(p_subscriber_id), v_end, greatest(p_horizon, v_changed))
    ON CONFLICT (subscriber_digest) DO UPDATE
        SET contract_end = greatest(e.contract_end, excluded.contract_end),
            erased_through = greatest(e.erased_through, excluded.erased_through),
            erased_at = now();
    RETURN NEXT;
END
$$;
