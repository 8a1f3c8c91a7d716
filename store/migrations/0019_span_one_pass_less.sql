-- The IP-attribution span index (0005, 0015, 0018): one pass less on the ingest path.
--
-- ruaj.ip_session_span_apply re-derived the range of every session of the batch still open
-- after the upsert, then cut every open session whose range meets the batch's sessions on its
-- block at the first session after it. The second pass already covers the first: a session of
-- the batch inserted open got its range from the sessions stored before the batch, so only a
-- later session of the same batch on its block can shorten it, and that session's start lies
-- in its range and in the batch's window on the block; a session stored open before keeps its
-- range in the upsert, and only a later session on its block can shorten it, the same way.
-- The first pass cost 1.4 µs per IP-session record at the database, a sixth of the upkeep.
-- What the function computes is unchanged (tests/integration/test_ip_attribution.py, whose
-- brute-force comparison covers sessions arriving shuffled over uneven batches).

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

    -- Open sessions on the same address and block that the batch's sessions follow: every one
    -- whose range meets [earliest, latest] of the batch's sessions there ends where the first
    -- session after it begins (only ever shortened).
    UPDATE ruaj.ip_session_span y
    SET active = tstzrange(y.session_start, c.next_start, '[)')
    FROM (
        SELECT o.session_id, o.session_start, (
                SELECT min(z.session_start) FROM ruaj.ip_session_span z
                WHERE z.public_ip = o.public_ip AND z.ports && o.ports
                  AND z.active && tstzrange(o.session_start, NULL, '()')
                  AND z.session_start > o.session_start) AS next_start
        FROM (
            SELECT DISTINCT o.session_id, o.session_start, o.public_ip, o.ports
            FROM (SELECT s.public_ip, s.ports, min(s.session_start) AS first_start,
                         max(s.session_start) AS last_start
                  FROM ruaj.ip_session_span s
                  JOIN (SELECT DISTINCT k.session_id, k.session_start
                        FROM unnest(p_session_id, p_session_start)
                            AS k(session_id, session_start)) k
                    ON s.session_id = k.session_id AND s.session_start = k.session_start
                  GROUP BY s.public_ip, s.ports) x
            JOIN ruaj.ip_session_span o
              ON o.public_ip = x.public_ip AND o.ports && x.ports
             AND o.active && tstzrange(x.first_start, x.last_start, '[]')
             AND o.session_start < x.last_start AND o.session_end IS NULL
        ) o
    ) c
    WHERE y.session_id = c.session_id AND y.session_start = c.session_start
      AND y.active @> c.next_start  -- only ever shortened, as before
      AND y.active IS DISTINCT FROM tstzrange(y.session_start, c.next_start, '[)');
    RETURN v_count;
END
$$;
