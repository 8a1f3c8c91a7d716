-- Login roles of the ruaj services, each a member of the group role whose grants the migrations
-- define (DESIGN §6): the ingest replicas may only insert events, dead letters and their offsets;
-- maintain may only run the maintenance functions. Run by psql after `ruaj db migrate`, with
-- -v ingest_password=… -v maintain_password=…; safe to run again (it resets the passwords).
-- Officers are not created here: each logs in as themselves (`ruaj officer add NAME`).

SELECT format('CREATE ROLE ruaj_ingest_svc LOGIN')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ruaj_ingest_svc')
\gexec
SELECT format('CREATE ROLE ruaj_maintain_svc LOGIN')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ruaj_maintain_svc')
\gexec

ALTER ROLE ruaj_ingest_svc LOGIN PASSWORD :'ingest_password';
ALTER ROLE ruaj_maintain_svc LOGIN PASSWORD :'maintain_password';
GRANT ruaj_ingest TO ruaj_ingest_svc;
GRANT ruaj_maintenance TO ruaj_maintain_svc;
