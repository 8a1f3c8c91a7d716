-- Subscriber registry (DESIGN §3, issue 5): current KYC data, who held which MSISDN/IMSI/ICCID
-- when, the change log that makes applying SubscriberChange events idempotent and independent
-- of arrival order, erasure records, and the span index that answers CGNAT IP attribution.
-- Runs as ruaj_owner; btree_gist is installed by store/migrate.py's bootstrap (schema public).

-- Current KYC data of one contract holder. A row is the fold, in event-time order, of the
-- UPSERT and TERMINATE events of ruaj.subscriber_change (ruaj.subscriber_apply keeps it so).
-- No CHECK between contract_start and contract_end: events from CRM may disagree, and a row
-- that passed the codec must never make its batch fail here.
CREATE TABLE ruaj.subscriber (
    subscriber_id   text        PRIMARY KEY CHECK (length(subscriber_id) BETWEEN 1 AND 64),
    given_name      text,
    family_name     text,
    personal_number text,
    address         text,
    city            text,
    email           text,
    contact_number  text,
    contract_start  timestamptz,
    contract_end    timestamptz,
    changed_at      timestamptz NOT NULL  -- event time of the latest change folded in
);
-- Erasure (ruaj maintain) looks for contracts that ended before a horizon.
CREATE INDEX subscriber_contract_end_idx ON ruaj.subscriber (contract_end)
    WHERE contract_end IS NOT NULL;

-- Every SubscriberChange event applied, as received: a re-sent event (same event_id) is a
-- duplicate, and folding a subscriber's events in (event_time, event_id) order gives the same
-- state whatever order they arrived in. Erased with the subscriber.
CREATE TABLE ruaj.subscriber_change (
    event_id        uuid        PRIMARY KEY,
    event_time      timestamptz NOT NULL,
    subscriber_id   text        NOT NULL,
    operation       text        NOT NULL
                    CHECK (operation IN ('UPSERT', 'TERMINATE', 'ASSIGN_IDENTITY', 'RELEASE_IDENTITY')),
    given_name      text,
    family_name     text,
    personal_number text,
    address         text,
    city            text,
    email           text,
    contact_number  text,
    contract_start  timestamptz,
    contract_end    timestamptz,
    identity_kind   text        CHECK (identity_kind IN ('MSISDN', 'IMSI', 'ICCID')),
    identity_value  text,
    applied_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriber_change_subscriber_idx
    ON ruaj.subscriber_change (subscriber_id, event_time, event_id);

-- Who held which identity during which range [from, to); an open range (upper NULL) is still
-- held. The exclusion constraint makes two holders of one identifier at one instant impossible;
-- its GiST index also answers "who held KIND:VALUE at instant t" (kind, value, held @> t).
CREATE TABLE ruaj.subscriber_identity (
    subscriber_id text      NOT NULL,
    kind          text      NOT NULL CHECK (kind IN ('MSISDN', 'IMSI', 'ICCID')),
    value         text      NOT NULL,
    held          tstzrange NOT NULL
                  CHECK (NOT isempty(held) AND NOT lower_inf(held) AND lower_inc(held)
                         AND NOT upper_inc(held)),
    CONSTRAINT subscriber_identity_one_holder
        EXCLUDE USING gist (kind WITH =, value WITH =, held WITH &&)
);
CREATE INDEX subscriber_identity_subscriber_idx
    ON ruaj.subscriber_identity (subscriber_id, kind, lower(held));

-- Subscribers erased by retention (contract end + window passed). Only a digest of the id
-- (store.audit.identifier_digest('subscriber', id)): enough to ignore a replay of their old
-- events, nothing that names them.
CREATE TABLE ruaj.subscriber_erasure (
    subscriber_digest text        PRIMARY KEY,
    contract_end      timestamptz NOT NULL,
    erased_at         timestamptz NOT NULL DEFAULT now()
);

-- The same digest as store.audit.identifier_digest('subscriber', id).
CREATE FUNCTION ruaj.subscriber_digest(p_subscriber_id text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT encode(sha256(convert_to('subscriber:' || p_subscriber_id, 'UTF8')), 'hex') $$;

-- Folds the UPSERT / TERMINATE events of one subscriber into ruaj.subscriber. UPSERT is a patch:
-- a field it carries replaces the current value, a null field keeps it. TERMINATE ends the
-- contract at its contract_end, or at its event time when it carries none.
CREATE FUNCTION ruaj.subscriber_refold(p_subscriber_id text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c ruaj.subscriber_change;
    s ruaj.subscriber;
BEGIN
    s.subscriber_id := p_subscriber_id;
    FOR c IN SELECT * FROM ruaj.subscriber_change
             WHERE subscriber_id = p_subscriber_id
             ORDER BY event_time, event_id LOOP
        s.changed_at := c.event_time;
        IF c.operation = 'UPSERT' THEN
            s.given_name      := coalesce(c.given_name, s.given_name);
            s.family_name     := coalesce(c.family_name, s.family_name);
            s.personal_number := coalesce(c.personal_number, s.personal_number);
            s.address         := coalesce(c.address, s.address);
            s.city            := coalesce(c.city, s.city);
            s.email           := coalesce(c.email, s.email);
            s.contact_number  := coalesce(c.contact_number, s.contact_number);
            s.contract_start  := coalesce(c.contract_start, s.contract_start);
            s.contract_end    := coalesce(c.contract_end, s.contract_end);
        ELSIF c.operation = 'TERMINATE' THEN
            s.contract_end := coalesce(c.contract_end, c.event_time);
        END IF;
    END LOOP;
    INSERT INTO ruaj.subscriber SELECT (s).*
    ON CONFLICT (subscriber_id) DO UPDATE SET
        given_name = excluded.given_name, family_name = excluded.family_name,
        personal_number = excluded.personal_number, address = excluded.address,
        city = excluded.city, email = excluded.email, contact_number = excluded.contact_number,
        contract_start = excluded.contract_start, contract_end = excluded.contract_end,
        changed_at = excluded.changed_at;
END
$$;

-- Rebuilds the holding ranges of one subscriber's identity from its ASSIGN / RELEASE events in
-- event-time order: an ASSIGN opens a range unless one is open, a RELEASE closes the open one
-- (a RELEASE with nothing open is kept in the log: its ASSIGN may still arrive). Raises
-- exclusion_violation when a range would overlap another subscriber's holding.
CREATE FUNCTION ruaj.subscriber_identity_refold(p_subscriber_id text, p_kind text, p_value text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c       record;
    v_open  timestamptz;
BEGIN
    DELETE FROM ruaj.subscriber_identity
    WHERE subscriber_id = p_subscriber_id AND kind = p_kind AND value = p_value;
    FOR c IN SELECT event_time, operation FROM ruaj.subscriber_change
             WHERE subscriber_id = p_subscriber_id AND identity_kind = p_kind
               AND identity_value = p_value
               AND operation IN ('ASSIGN_IDENTITY', 'RELEASE_IDENTITY')
             ORDER BY event_time, event_id LOOP
        IF c.operation = 'ASSIGN_IDENTITY' THEN
            v_open := coalesce(v_open, c.event_time);
        ELSIF v_open IS NOT NULL THEN
            IF c.event_time > v_open THEN
                INSERT INTO ruaj.subscriber_identity (subscriber_id, kind, value, held)
                VALUES (p_subscriber_id, p_kind, p_value, tstzrange(v_open, c.event_time, '[)'));
            END IF;
            v_open := NULL;
        END IF;
    END LOOP;
    IF v_open IS NOT NULL THEN
        INSERT INTO ruaj.subscriber_identity (subscriber_id, kind, value, held)
        VALUES (p_subscriber_id, p_kind, p_value, tstzrange(v_open, NULL, '[)'));
    END IF;
END
$$;

-- Applies a batch of SubscriberChange events (parallel arrays, in the order given: callers sort
-- by event time) and returns, per event, 'stored', 'duplicate' (its event_id was applied
-- already, or its subscriber was erased and the event predates that erasure) or a dead-letter
-- reason: 'identity_overlap' (the assignment would give the identifier two holders at once;
-- nothing of the event is kept). Each event runs in its own subtransaction, so a refused one
-- leaves no trace while the batch, inside the caller's transaction, goes on. SECURITY DEFINER:
-- ruaj_ingest applies changes without any privilege on the registry tables.
CREATE FUNCTION ruaj.subscriber_apply(
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
        SELECT e.contract_end INTO v_erased FROM ruaj.subscriber_erasure e
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

-- Contract ends erasure is due for: ended at or before p_horizon (now − the subscriber window),
-- oldest first.
CREATE FUNCTION ruaj.subscriber_erasure_due(p_horizon timestamptz, p_limit integer)
RETURNS TABLE (subscriber_id text, contract_end timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.subscriber_id, s.contract_end FROM ruaj.subscriber s
    WHERE s.contract_end <= p_horizon
    ORDER BY s.contract_end, s.subscriber_id
    LIMIT p_limit
$$;

-- Erases one subscriber whose contract ended at or before p_horizon: KYC row, identity
-- history, change log; records the digest. Returns how many identity ranges and changes went,
-- or no row when the subscriber is not (or no longer) due. The caller audits it in the same
-- transaction (store/registry.py).
CREATE FUNCTION ruaj.subscriber_erase(p_subscriber_id text, p_horizon timestamptz)
RETURNS TABLE (contract_end timestamptz, identities bigint, changes bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_end timestamptz;
BEGIN
    DELETE FROM ruaj.subscriber s
    WHERE s.subscriber_id = p_subscriber_id AND s.contract_end <= p_horizon
    RETURNING s.contract_end INTO v_end;
    IF v_end IS NULL THEN
        RETURN;
    END IF;
    contract_end := v_end;
    DELETE FROM ruaj.subscriber_identity i WHERE i.subscriber_id = p_subscriber_id;
    GET DIAGNOSTICS identities = ROW_COUNT;
    DELETE FROM ruaj.subscriber_change c WHERE c.subscriber_id = p_subscriber_id;
    GET DIAGNOSTICS changes = ROW_COUNT;
    INSERT INTO ruaj.subscriber_erasure AS e (subscriber_digest, contract_end)
    VALUES (ruaj.subscriber_digest(p_subscriber_id), v_end)
    ON CONFLICT (subscriber_digest) DO UPDATE
        SET contract_end = greatest(e.contract_end, excluded.contract_end), erased_at = now();
    RETURN NEXT;
END
$$;

-- IP attribution index (RFC 6302: public address + port + instant). One row per accounting
-- session, kept by ingest from the START / INTERIM / STOP records (ruaj.ip_session_span_apply):
-- the NAT port block and the range during which the session held it. `active` ends at the
-- STOP's session_end; while no STOP is known, at the start of the next session on an
-- overlapping block of the same address (the NAT gave the ports to someone else, so this one
-- was over), else it is open. The span holds no subscriber identifier: attribution reads those
-- from ruaj.ip_session, so once retention drops a session's records it is no longer attributed.
CREATE TABLE ruaj.ip_session_span (
    session_id    text        NOT NULL,
    session_start timestamptz NOT NULL,
    public_ip     inet        NOT NULL,
    ports         int4range   NOT NULL CHECK (NOT isempty(ports)),
    session_end   timestamptz,
    last_seen     timestamptz NOT NULL,  -- event time of the latest record of the session
    active        tstzrange   NOT NULL,
    PRIMARY KEY (session_id, session_start)
);
CREATE INDEX ip_session_span_lookup_idx ON ruaj.ip_session_span USING gist (public_ip, ports, active);
CREATE INDEX ip_session_span_last_seen_idx ON ruaj.ip_session_span (last_seen);

-- Upserts the spans of a batch of ip_session records (parallel arrays) and re-derives `active`
-- for them and for the open sessions on the same address and block that they end. Idempotent
-- and independent of arrival order. SECURITY DEFINER: granted to ruaj_ingest alone.
CREATE FUNCTION ruaj.ip_session_span_apply(
    p_session_id text[], p_session_start timestamptz[], p_public_ip inet[],
    p_port_first integer[], p_port_last integer[], p_session_end timestamptz[],
    p_event_time timestamptz[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count integer;
BEGIN
    WITH input AS (
        SELECT * FROM unnest(p_session_id, p_session_start, p_public_ip, p_port_first,
                             p_port_last, p_session_end, p_event_time)
            AS t(session_id, session_start, public_ip, port_first, port_last, session_end,
                 event_time)
    ), grouped AS (
        SELECT session_id, session_start,
               (array_agg(public_ip ORDER BY event_time))[1] AS public_ip,
               (array_agg(port_first ORDER BY event_time))[1] AS port_first,
               (array_agg(port_last ORDER BY event_time))[1] AS port_last,
               max(session_end) AS session_end, max(event_time) AS last_seen
        FROM input GROUP BY session_id, session_start
    )
    INSERT INTO ruaj.ip_session_span AS s
        (session_id, session_start, public_ip, ports, session_end, last_seen, active)
    SELECT g.session_id, g.session_start, g.public_ip,
           int4range(g.port_first, g.port_last, '[]'), g.session_end, g.last_seen,
           tstzrange(g.session_start, NULL, '[)')
    FROM grouped g
    ON CONFLICT (session_id, session_start) DO UPDATE SET
        session_end = coalesce(s.session_end, excluded.session_end),
        last_seen = greatest(s.last_seen, excluded.last_seen);
    GET DIAGNOSTICS v_count = ROW_COUNT;

    -- The batch's sessions: closed at their STOP, or open until the next session on the block.
    UPDATE ruaj.ip_session_span s
    SET active = CASE
        WHEN s.session_end IS NOT NULL AND s.session_end = s.session_start
            THEN tstzrange(s.session_start, s.session_end, '[]')
        ELSE tstzrange(s.session_start, coalesce(s.session_end, (
            SELECT min(z.session_start) FROM ruaj.ip_session_span z
            WHERE z.public_ip = s.public_ip AND z.ports && s.ports
              AND z.active && tstzrange(s.session_start, NULL, '()')
              AND z.session_start > s.session_start)), '[)')
        END
    FROM (SELECT DISTINCT k.session_id, k.session_start
          FROM unnest(p_session_id, p_session_start) AS k(session_id, session_start)) k
    WHERE s.session_id = k.session_id AND s.session_start = k.session_start;

    -- Open sessions that started earlier on the same address and block end where these begin.
    UPDATE ruaj.ip_session_span y
    SET active = tstzrange(y.session_start, x.session_start, '[)')
    FROM (SELECT s.public_ip, s.ports, min(s.session_start) AS session_start
          FROM ruaj.ip_session_span s
          JOIN (SELECT DISTINCT k.session_id, k.session_start
                FROM unnest(p_session_id, p_session_start) AS k(session_id, session_start)) k
            ON s.session_id = k.session_id AND s.session_start = k.session_start
          GROUP BY s.public_ip, s.ports) x
    WHERE y.public_ip = x.public_ip AND y.ports && x.ports
      AND y.active @> x.session_start
      AND y.session_start < x.session_start AND y.session_end IS NULL;
    RETURN v_count;
END
$$;

-- Removes spans whose last record is older than p_before (retention has dropped, or will drop,
-- every record they point to). Returns how many went.
CREATE FUNCTION ruaj.ip_session_span_prune(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count bigint;
BEGIN
    DELETE FROM ruaj.ip_session_span
    WHERE last_seen < p_before AND coalesce(session_end, last_seen) < p_before;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

-- Resolution functions (issue 5 item 3): plain functions owned by ruaj_owner, executable by no
-- other role. disclosure's SECURITY DEFINER functions call them after checking the order.

-- Everyone who held KIND:VALUE at any instant of [p_from, p_to); p_from = p_to is the instant.
-- held_to NULL: still held.
CREATE FUNCTION ruaj.identity_holders(p_kind text, p_value text, p_from timestamptz,
                                      p_to timestamptz)
RETURNS TABLE (subscriber_id text, held_from timestamptz, held_to timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.subscriber_id, lower(i.held), upper(i.held)
    FROM ruaj.subscriber_identity i
    WHERE i.kind = upper(p_kind) AND i.value = p_value
      AND i.held && CASE WHEN p_from = p_to THEN tstzrange(p_from, p_to, '[]')
                         ELSE tstzrange(p_from, p_to, '[)') END
    ORDER BY lower(i.held)
$$;

-- Every identity one subscriber held at any instant of [p_from, p_to) (p_from = p_to: at it).
CREATE FUNCTION ruaj.subscriber_identities(p_subscriber_id text, p_from timestamptz,
                                           p_to timestamptz)
RETURNS TABLE (kind text, value text, held_from timestamptz, held_to timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT i.kind, i.value, lower(i.held), upper(i.held)
    FROM ruaj.subscriber_identity i
    WHERE i.subscriber_id = p_subscriber_id
      AND i.held && CASE WHEN p_from = p_to THEN tstzrange(p_from, p_to, '[]')
                         ELSE tstzrange(p_from, p_to, '[)') END
    ORDER BY i.kind, lower(i.held), i.value
$$;

-- The IMSIs seen with an IMEI in [p_from, p_to) (p_from = p_to: at that instant), from IMEI
-- observations and traffic (calls, SMS, data sessions), with the first and last sighting.
CREATE FUNCTION ruaj.imei_imsis(p_imei text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (imsi text, first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH seen AS (
        SELECT o.imsi, o.observed_at AS at FROM ruaj.imei_observation o
        WHERE o.imei = p_imei AND o.observed_at >= p_from AND o.observed_at <= p_to
        UNION ALL
        SELECT c.served_imsi, c.start_time FROM ruaj.cdr c
        WHERE c.served_imei = p_imei AND c.start_time >= p_from AND c.start_time <= p_to
        UNION ALL
        SELECT m.served_imsi, m.event_time FROM ruaj.sms m
        WHERE m.served_imei = p_imei AND m.event_time >= p_from AND m.event_time <= p_to
        UNION ALL
        SELECT r.imsi, r.event_time FROM ruaj.ip_session r
        WHERE r.imei = p_imei AND r.event_time >= p_from AND r.event_time <= p_to
    )
    SELECT s.imsi, min(s.at), max(s.at) FROM seen s
    WHERE s.at < p_to OR p_from = p_to
    GROUP BY s.imsi ORDER BY min(s.at), s.imsi
$$;

-- The data session(s) whose NAT port block on p_public_ip held p_port at p_at, with the
-- subscriber who held the session's MSISDN (or else its IMSI) at that instant. Usually one
-- row; more only when the network reported overlapping sessions on one block.
CREATE FUNCTION ruaj.ip_attribution(p_public_ip inet, p_port integer, p_at timestamptz)
RETURNS TABLE (session_id text, msisdn text, imsi text, imei text, private_ip inet,
               public_ip inet, public_port_first integer, public_port_last integer,
               session_start timestamptz, session_end timestamptz, subscriber_id text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.session_id, r.msisdn, r.imsi, r.imei, r.private_ip, s.public_ip,
           lower(s.ports), upper(s.ports) - 1, s.session_start, s.session_end,
           coalesce(
               (SELECT i.subscriber_id FROM ruaj.subscriber_identity i
                WHERE i.kind = 'MSISDN' AND i.value = r.msisdn AND i.held @> p_at),
               (SELECT i.subscriber_id FROM ruaj.subscriber_identity i
                WHERE i.kind = 'IMSI' AND i.value = r.imsi AND i.held @> p_at))
    FROM ruaj.ip_session_span s
    CROSS JOIN LATERAL (
        SELECT x.msisdn, x.imsi, x.imei, x.private_ip FROM ruaj.ip_session x
        WHERE x.session_id = s.session_id
          AND x.event_time >= s.session_start AND x.event_time <= s.last_seen
        ORDER BY x.event_time
        LIMIT 1
    ) r
    WHERE s.public_ip = p_public_ip AND s.ports @> p_port AND s.active @> p_at
    ORDER BY s.session_start DESC, s.session_id
$$;

REVOKE ALL ON ruaj.subscriber, ruaj.subscriber_change, ruaj.subscriber_identity,
    ruaj.subscriber_erasure, ruaj.ip_session_span FROM PUBLIC;
REVOKE ALL ON FUNCTION ruaj.subscriber_digest(text), ruaj.subscriber_refold(text),
    ruaj.subscriber_identity_refold(text, text, text),
    ruaj.subscriber_apply(uuid[], timestamptz[], text[], text[], text[], text[], text[], text[],
                          text[], text[], text[], timestamptz[], timestamptz[], text[], text[]),
    ruaj.subscriber_erasure_due(timestamptz, integer), ruaj.subscriber_erase(text, timestamptz),
    ruaj.ip_session_span_apply(text[], timestamptz[], inet[], integer[], integer[],
                               timestamptz[], timestamptz[]),
    ruaj.ip_session_span_prune(timestamptz),
    ruaj.identity_holders(text, text, timestamptz, timestamptz),
    ruaj.subscriber_identities(text, timestamptz, timestamptz),
    ruaj.imei_imsis(text, timestamptz, timestamptz),
    ruaj.ip_attribution(inet, integer, timestamptz) FROM PUBLIC;

-- Ingest applies registry changes and keeps the span index, through these functions only.
GRANT EXECUTE ON FUNCTION
    ruaj.subscriber_apply(uuid[], timestamptz[], text[], text[], text[], text[], text[], text[],
                          text[], text[], text[], timestamptz[], timestamptz[], text[], text[]),
    ruaj.ip_session_span_apply(text[], timestamptz[], inet[], integer[], integer[],
                               timestamptz[], timestamptz[])
    TO ruaj_ingest;
-- Maintenance erases subscribers past their window and prunes spans past theirs.
GRANT EXECUTE ON FUNCTION ruaj.subscriber_erasure_due(timestamptz, integer),
    ruaj.subscriber_erase(text, timestamptz), ruaj.ip_session_span_prune(timestamptz)
    TO ruaj_maintenance;
