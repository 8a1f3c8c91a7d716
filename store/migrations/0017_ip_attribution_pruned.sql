-- ruaj.ip_attribution (0005) with the session's first record looked up in a plan of its own.
--
-- As a SQL function, the lookup of a span's first ip_session record was planned without its
-- time bounds, over every day partition of the retention window: 1.7 ms warm, but about 250 ms
-- on the first call of a connection (373 partitions planned; bench/registry.py) — and every
-- `ruaj order execute` is a new connection. Run with EXECUTE … USING, the lookup is planned
-- with the span's [session_start, last_seen] known, so only the days the session covers are
-- planned and scanned. Same rows, same order (tests/integration/test_ip_attribution.py).

CREATE OR REPLACE FUNCTION ruaj.ip_attribution(p_public_ip inet, p_port integer, p_at timestamptz)
RETURNS TABLE (session_id text, msisdn text, imsi text, imei text, private_ip inet,
               public_ip inet, public_port_first integer, public_port_last integer,
               session_start timestamptz, session_end timestamptz, subscriber_id text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s     record;
    r     record;
    v_n   bigint;
BEGIN
    FOR s IN SELECT z.session_id, z.public_ip, z.ports, z.session_start, z.session_end,
                    z.last_seen
             FROM ruaj.ip_session_span z
             WHERE z.public_ip = p_public_ip AND z.ports @> p_port AND z.active @> p_at
             ORDER BY z.session_start DESC, z.session_id LOOP
        EXECUTE 'SELECT x.msisdn, x.imsi, x.imei, x.private_ip FROM ruaj.ip_session x '
                'WHERE x.session_id = $1 AND x.event_time >= $2 AND x.event_time <= $3 '
                'ORDER BY x.event_time LIMIT 1'
            INTO r USING s.session_id, s.session_start, s.last_seen;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        CONTINUE WHEN v_n = 0;  -- no record kept (dropped by retention): not attributed
        session_id := s.session_id;
        msisdn := r.msisdn;
        imsi := r.imsi;
        imei := r.imei;
        private_ip := r.private_ip;
        public_ip := s.public_ip;
        public_port_first := lower(s.ports);
        public_port_last := upper(s.ports) - 1;
        session_start := s.session_start;
        session_end := s.session_end;
        subscriber_id := coalesce(
            (SELECT i.subscriber_id FROM ruaj.subscriber_identity i
             WHERE i.kind = 'MSISDN' AND i.value = r.msisdn AND i.held @> p_at),
            (SELECT i.subscriber_id FROM ruaj.subscriber_identity i
             WHERE i.kind = 'IMSI' AND i.value = r.imsi AND i.held @> p_at));
        RETURN NEXT;
    END LOOP;
END
$$;
