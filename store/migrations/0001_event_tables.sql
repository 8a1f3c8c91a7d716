-- Event tables, ingest offsets, dead-letter records, on-demand partitions, role grants.
-- Runs as ruaj_owner (store/migrate.py). The group roles and schema ruaj exist already.

-- Event tables: range-partitioned by event time, one partition per UTC day named
-- <table>_pYYYYMMDD, no default partition. The primary key includes event_id and the
-- partition column, so a re-sent event (same event_id, same time) is stored once.
-- CHECK constraints only restate what ingest/validate.py guarantees: a row that passed
-- validation must never fail here, or its batch would be retried forever.

CREATE TABLE ruaj.cdr (
    event_id        uuid        NOT NULL,
    start_time      timestamptz NOT NULL,
    end_time        timestamptz NOT NULL,
    call_type       text        NOT NULL CHECK (call_type IN ('VOICE', 'VIDEO')),
    direction       text        NOT NULL CHECK (direction IN ('ORIGINATING', 'TERMINATING', 'FORWARDED')),
    calling_number  text        NOT NULL,
    called_number   text        NOT NULL,
    forwarded_to    text,
    served_msisdn   text        NOT NULL,
    served_imsi     text        NOT NULL,
    served_imei     text,
    cell_start      text,
    cell_end        text,
    end_reason      text,
    network_element text        NOT NULL,
    CHECK (end_time >= start_time),
    PRIMARY KEY (event_id, start_time)
) PARTITION BY RANGE (start_time);

-- Query shapes (DESIGN §3): everything about one MSISDN / IMSI / IMEI in a time window (a
-- served MSISDN is always the calling, called or forwarded-to party), and tower dumps.
CREATE INDEX cdr_calling_number_idx ON ruaj.cdr (calling_number, start_time);
CREATE INDEX cdr_called_number_idx  ON ruaj.cdr (called_number, start_time);
CREATE INDEX cdr_forwarded_to_idx   ON ruaj.cdr (forwarded_to, start_time) WHERE forwarded_to IS NOT NULL;
CREATE INDEX cdr_served_imsi_idx    ON ruaj.cdr (served_imsi, start_time);
CREATE INDEX cdr_served_imei_idx    ON ruaj.cdr (served_imei, start_time) WHERE served_imei IS NOT NULL;
CREATE INDEX cdr_cell_start_idx     ON ruaj.cdr (cell_start, start_time) WHERE cell_start IS NOT NULL;
CREATE INDEX cdr_cell_end_idx       ON ruaj.cdr (cell_end, start_time) WHERE cell_end IS NOT NULL;

CREATE TABLE ruaj.sms (
    event_id        uuid        NOT NULL,
    event_time      timestamptz NOT NULL,
    direction       text        NOT NULL CHECK (direction IN ('MO', 'MT')),
    sender          text        NOT NULL,
    recipient       text        NOT NULL,
    served_msisdn   text        NOT NULL,
    served_imsi     text        NOT NULL,
    served_imei     text,
    cell            text,
    message_type    text        NOT NULL CHECK (message_type IN ('SMS', 'MMS')),
    delivery_status text        NOT NULL CHECK (delivery_status IN ('SUBMITTED', 'DELIVERED', 'FAILED')),
    network_element text        NOT NULL,
    PRIMARY KEY (event_id, event_time)
) PARTITION BY RANGE (event_time);

CREATE INDEX sms_sender_idx      ON ruaj.sms (sender, event_time);
CREATE INDEX sms_recipient_idx   ON ruaj.sms (recipient, event_time);
CREATE INDEX sms_served_imsi_idx ON ruaj.sms (served_imsi, event_time);
CREATE INDEX sms_served_imei_idx ON ruaj.sms (served_imei, event_time) WHERE served_imei IS NOT NULL;
CREATE INDEX sms_cell_idx        ON ruaj.sms (cell, event_time) WHERE cell IS NOT NULL;

CREATE TABLE ruaj.imei_observation (
    event_id        uuid        NOT NULL,
    observed_at     timestamptz NOT NULL,
    imei            text        NOT NULL,
    imsi            text        NOT NULL,
    msisdn          text,
    cell            text,
    reason          text        NOT NULL CHECK (reason IN ('ATTACH', 'DETACH', 'LOCATION_UPDATE', 'HANDSET_CHANGE')),
    network_element text        NOT NULL,
    PRIMARY KEY (event_id, observed_at)
) PARTITION BY RANGE (observed_at);

CREATE INDEX imei_observation_imei_idx   ON ruaj.imei_observation (imei, observed_at);
CREATE INDEX imei_observation_imsi_idx   ON ruaj.imei_observation (imsi, observed_at);
CREATE INDEX imei_observation_msisdn_idx ON ruaj.imei_observation (msisdn, observed_at) WHERE msisdn IS NOT NULL;
CREATE INDEX imei_observation_cell_idx   ON ruaj.imei_observation (cell, observed_at) WHERE cell IS NOT NULL;

CREATE TABLE ruaj.ip_session (
    event_id          uuid        NOT NULL,
    session_id        text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('START', 'INTERIM', 'STOP')),
    event_time        timestamptz NOT NULL,
    session_start     timestamptz NOT NULL,
    session_end       timestamptz,
    msisdn            text        NOT NULL,
    imsi              text        NOT NULL,
    imei              text,
    apn               text        NOT NULL,
    private_ip        inet        NOT NULL,
    public_ip         inet        NOT NULL,
    public_port_first integer     NOT NULL CHECK (public_port_first BETWEEN 0 AND 65535),
    public_port_last  integer     NOT NULL CHECK (public_port_last BETWEEN 0 AND 65535),
    cell              text,
    bytes_up          bigint      CHECK (bytes_up >= 0),
    bytes_down        bigint      CHECK (bytes_down >= 0),
    CHECK (public_port_first <= public_port_last),
    CHECK (session_end IS NULL OR session_end >= session_start),
    PRIMARY KEY (event_id, event_time)
) PARTITION BY RANGE (event_time);

CREATE INDEX ip_session_public_ip_idx  ON ruaj.ip_session (public_ip, event_time);
CREATE INDEX ip_session_msisdn_idx     ON ruaj.ip_session (msisdn, event_time);
CREATE INDEX ip_session_imsi_idx       ON ruaj.ip_session (imsi, event_time);
CREATE INDEX ip_session_imei_idx       ON ruaj.ip_session (imei, event_time) WHERE imei IS NOT NULL;
CREATE INDEX ip_session_session_id_idx ON ruaj.ip_session (session_id, event_time);

-- Where each consumer group stands, written in the same transaction as the rows it covers.
CREATE TABLE ruaj.ingest_offset (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL CHECK (partition >= 0),
    next_offset    bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- One row per dead-lettered message, written with the offsets: exact accounting of what was
-- refused, and why. No payload: the bytes themselves are in the ruaj.dlq topic only.
CREATE TABLE ruaj.dead_letter (
    topic            text        NOT NULL,
    partition        integer     NOT NULL,
    "offset"         bigint      NOT NULL,
    reason           text        NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX dead_letter_at_idx ON ruaj.dead_letter (dead_lettered_at);

-- Creates the partition of one UTC day if it is missing; returns its name. SECURITY DEFINER so
-- that ingest (late events) and maintenance (days ahead) can create partitions without owning
-- the tables. The partition is created apart and then ATTACHed, which takes only a SHARE UPDATE
-- EXCLUSIVE lock on the parent: concurrent COPYs into other days are not blocked.
CREATE FUNCTION ruaj.ensure_partition(p_table text, p_day date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_part  text := p_table || '_p' || to_char(p_day, 'YYYYMMDD');
    v_from  timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    v_to    timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    v_owner name;
BEGIN
    IF p_table NOT IN ('cdr', 'sms', 'imei_observation', 'ip_session') THEN
        RAISE EXCEPTION 'not an event table: %', p_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_day IS NULL OR p_day < DATE '2000-01-01' OR p_day > DATE '2999-12-31' THEN
        RAISE EXCEPTION 'partition day out of range: %', p_day USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(format('ruaj.%I', v_part)) IS NOT NULL THEN
        RETURN v_part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ruaj.partition'), hashtext(v_part));
    IF to_regclass(format('ruaj.%I', v_part)) IS NOT NULL THEN
        RETURN v_part;  -- made by someone else while we waited
    END IF;
    EXECUTE format('CREATE TABLE ruaj.%I (LIKE ruaj.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   v_part, p_table);
    SELECT c.relowner::regrole::name INTO v_owner FROM pg_class c WHERE c.oid = format('ruaj.%I', p_table)::regclass;
    IF v_owner <> current_user THEN
        EXECUTE format('ALTER TABLE ruaj.%I OWNER TO %I', v_part, v_owner);
    END IF;
    EXECUTE format('ALTER TABLE ruaj.%I ATTACH PARTITION ruaj.%I FOR VALUES FROM (%L) TO (%L)',
                   p_table, v_part, v_from, v_to);
    RETURN v_part;
END
$$;

REVOKE ALL ON FUNCTION ruaj.ensure_partition(text, date) FROM PUBLIC;

-- Grants (DESIGN §6). ruaj_ingest inserts events, dead-letter records and its own offsets, and
-- creates partitions through ensure_partition; it reads nothing but its offsets.
GRANT USAGE ON SCHEMA ruaj TO ruaj_ingest, ruaj_maintenance, ruaj_officer, ruaj_auditor;
GRANT INSERT ON ruaj.cdr, ruaj.sms, ruaj.imei_observation, ruaj.ip_session TO ruaj_ingest;
GRANT SELECT, INSERT, UPDATE ON ruaj.ingest_offset TO ruaj_ingest;
GRANT INSERT ON ruaj.dead_letter TO ruaj_ingest;
GRANT EXECUTE ON FUNCTION ruaj.ensure_partition(text, date) TO ruaj_ingest, ruaj_maintenance;
GRANT SELECT ON ruaj.ingest_offset, ruaj.dead_letter TO ruaj_maintenance;
GRANT SELECT ON ruaj.schema_migration TO ruaj_ingest, ruaj_maintenance, ruaj_officer, ruaj_auditor;
