-- Cheaper upkeep of the IP-attribution span index (0005) on the ingest path.
--
-- Every IP-session record (START, each INTERIM, STOP) passes through ruaj.ip_session_span_apply
-- in the batch's transaction. In 0005 each record of a session rewrote its span twice (the
-- upsert, then the re-derivation of `active`) and every rewrite inserted into all three indexes,
-- because `last_seen` was indexed: the span upkeep cost PostgreSQL more than the COPY of the
-- records themselves. Now:
-- - `last_seen` is not indexed: a record that only moves it (an INTERIM) is a HOT update, with
--   no index insertion. Pruning (`ruaj maintain`, once per pass) scans the table instead;
-- - a new span is inserted with its `active` range already derived (closed at its STOP, or
--   ended by a later session the index already holds), and a STOP closes an existing span in
--   the upsert itself; the re-derivation afterwards rewrites only spans whose range differs
--   (a later session of the same batch on the same block), and the upsert skips a replay.
-- What the function computes is unchanged (tests/integration/test_ip_attribution.py).

DROP INDEX ruaj.ip_session_span_last_seen_idx;
ALTER TABLE ruaj.ip_session_span SET (fillfactor = 80);  -- room on the page for HOT updates

CREATE OR REPLACE FUNCTION ruaj.ip_session_span_apply(
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
    SELECT g.session_id, g.session_start, g.public_ip, g.ports, g.session_end, g.last_seen,
           CASE
           WHEN g.session_end IS NOT NULL AND g.session_end = g.session_start
               THEN tstzrange(g.session_start, g.session_end, '[]')
           ELSE tstzrange(g.session_start, coalesce(g.session_end, (
               SELECT min(z.session_start) FROM ruaj.ip_session_span z
               WHERE z.public_ip = g.public_ip AND z.ports && g.ports
                 AND z.active && tstzrange(g.session_start, NULL, '()')
                 AND z.session_start > g.session_start)), '[)')
           END
    FROM (SELECT grouped.*, int4range(port_first, port_last, '[]') AS ports FROM grouped) g
    ON CONFLICT (session_id, session_start) DO UPDATE SET
        session_end = coalesce(s.session_end, excluded.session_end),
        last_seen = greatest(s.last_seen, excluded.last_seen),
        active = CASE
            WHEN s.session_end IS NOT NULL OR excluded.session_end IS NULL THEN s.active
            WHEN excluded.session_end = s.session_start
                THEN tstzrange(s.session_start, excluded.session_end, '[]')
            ELSE tstzrange(s.session_start, excluded.session_end, '[)')
            END
    WHERE (s.session_end IS NULL AND excluded.session_end IS NOT NULL)
       OR s.last_seen < excluded.last_seen;
    GET DIAGNOSTICS v_count = ROW_COUNT;

    -- The batch's sessions: closed at their STOP, or open until the next session on the block.
    UPDATE ruaj.ip_session_span s
    SET active = n.active
    FROM (
        SELECT s.session_id, s.session_start, CASE
            WHEN s.session_end IS NOT NULL AND s.session_end = s.session_start
                THEN tstzrange(s.session_start, s.session_end, '[]')
            ELSE tstzrange(s.session_start, coalesce(s.session_end, (
                SELECT min(z.session_start) FROM ruaj.ip_session_span z
                WHERE z.public_ip = s.public_ip AND z.ports && s.ports
                  AND z.active && tstzrange(s.session_start, NULL, '()')
                  AND z.session_start > s.session_start)), '[)')
            END AS active
        FROM ruaj.ip_session_span s
        JOIN (SELECT DISTINCT k.session_id, k.session_start
              FROM unnest(p_session_id, p_session_start) AS k(session_id, session_start)) k
          ON s.session_id = k.session_id AND s.session_start = k.session_start
    ) n
    WHERE s.session_id = n.session_id AND s.session_start = n.session_start
      AND s.active IS DISTINCT FROM n.active;

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
      AND y.session_start < x.session_start AND y.session_end IS NULL
      AND y.active IS DISTINCT FROM tstzrange(y.session_start, x.session_start, '[)');
    RETURN v_count;
END
$$;
