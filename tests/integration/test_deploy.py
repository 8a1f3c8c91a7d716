"""deploy/: what can be checked without a Docker engine (none runs on the development machines).

The compose file parses; every service, file, port and host it names exists; every command it
gives `ruaj` is one `ruaj` accepts; every `RUAJ_*` setting it passes is one a settings class of
ruaj reads (a misspelt setting would be silently ignored by pydantic-settings and the service
would run on its default); the Dockerfile copies what exists and runs what is installed; the
Prometheus targets and the Grafana datasource point at compose services.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic_settings
import pytest
import yaml

from ruaj import cli
from store import migrate
from tests.support import ROOT

pytestmark = pytest.mark.integration

DEPLOY = ROOT / "deploy"
PACKAGES = ("ruaj", "ingest", "store", "disclosure")
RUAJ_IMAGE = "ruaj:latest"


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml(DEPLOY / "docker-compose.yml")
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def _ruaj_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if s.get("image") == RUAJ_IMAGE}


def _settings_classes() -> Iterator[type[pydantic_settings.BaseSettings]]:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if not info.name.endswith(".__main__"):  # importing it would run the command
                importlib.import_module(info.name)
    pending = list(pydantic_settings.BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES:
            yield cls


def _setting_names() -> set[str]:
    """Every environment variable a settings class of ruaj reads."""
    names = set()
    for cls in _settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            names.add((alias or prefix + field_name).upper())
    return names


def test_compose_has_every_part_of_the_deployment(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {
        "postgres", "kafka", "topics", "migrate", "logins", "ingest", "maintain",
        "prometheus", "grafana",
    }  # fmt: skip
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft: no ZooKeeper
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["ingest"]["deploy"]["replicas"] == 2
    assert services["ingest"]["command"][0] == "ingest"
    assert services["maintain"]["command"] == ["maintain"]
    assert services["migrate"]["command"] == ["db", "migrate"]
    assert services["migrate"]["restart"] == "no"  # a one-shot


def test_every_service_named_exists(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name} uses unknown secret {secret}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} mounts unknown volume {source}"


def test_one_shots_run_in_order(services: dict[str, dict[str, Any]]) -> None:
    def needs(name: str, other: str, condition: str) -> None:
        assert services[name]["depends_on"][other] == {"condition": condition}, (name, other)

    needs("migrate", "postgres", "service_healthy")
    needs("logins", "migrate", "service_completed_successfully")
    needs("topics", "kafka", "service_healthy")
    for worker in ("ingest", "maintain"):
        needs(worker, "logins", "service_completed_successfully")
    needs("ingest", "topics", "service_completed_successfully")


def test_the_ruaj_services_are_migrate_ingest_maintain(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(_ruaj_services(services)) == {"migrate", "ingest", "maintain"}


@pytest.mark.parametrize("name", ["migrate", "ingest", "maintain"])
def test_ruaj_commands_are_ones_ruaj_accepts(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    command = [str(part) for part in services[name]["command"]]
    assert command[0] in cli.COMMAND_MODULES, name
    args = cli.build_parser().parse_args(command)
    assert callable(args.handler), name


def test_every_ruaj_setting_passed_is_read(services: dict[str, dict[str, Any]]) -> None:
    known = _setting_names()
    assert {"RUAJ_DATABASE_URL", "RUAJ_KAFKA_BOOTSTRAP", "RUAJ_METRICS_PORT"} <= known
    passed = set()
    for name, service in _ruaj_services(services).items():
        environment = service["environment"]
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        assert "RUAJ_DATABASE_URL" in environment, name
        passed |= {key for key in environment if key.startswith("RUAJ_")}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    passed |= set(re.findall(r"\b(RUAJ_[A-Z0-9_]+)=", dockerfile))
    assert passed, "no RUAJ_ setting found"
    assert passed - known == set()


def test_compose_variables_are_documented(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    example = (DEPLOY / "env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.MULTILINE))
    assert used, "no variables found"
    assert used == documented


def test_services_talk_to_services_that_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in _ruaj_services(services).items():
        environment = service["environment"]
        host = re.search(r"@([a-z0-9_-]+):5432/", environment["RUAJ_DATABASE_URL"])
        assert host is not None and host.group(1) in services, name
        if "RUAJ_KAFKA_BOOTSTRAP" in environment:
            kafka = environment["RUAJ_KAFKA_BOOTSTRAP"].split(":")[0]
            assert kafka in services, name
            advertised = services[kafka]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
            assert f"//{environment['RUAJ_KAFKA_BOOTSTRAP']}" in advertised


def test_prometheus_scrapes_every_ruaj_worker(services: dict[str, dict[str, Any]]) -> None:
    config = _load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    assert (DEPLOY / "prometheus" / "alerts.yml").is_file()
    targets: dict[str, int] = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for host in sd["names"]:
                targets[host] = sd["port"]
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                targets[host] = int(port)
    for worker in ("ingest", "maintain"):
        assert targets[worker] == int(services[worker]["environment"]["RUAJ_METRICS_PORT"])
    for host in targets:
        assert host in services or host == "localhost", host


def test_grafana_is_provisioned(services: dict[str, dict[str, Any]]) -> None:
    datasources = _load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert re.fullmatch(r"http://prometheus:9090", source["url"])
    providers = _load_yaml(DEPLOY / "grafana/provisioning/dashboards/ruaj.yml")
    (provider,) = providers["providers"]
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    assert mounts["./grafana/ruaj.json"] == provider["options"]["path"] + "/ruaj.json"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboard = json.loads((DEPLOY / "grafana" / "ruaj.json").read_text())
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


def test_dashboard_shows_what_operations_asked_for() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "ruaj.json").read_text())
    exprs = {
        panel["title"]: " ".join(t["expr"] for t in panel["targets"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
    }
    wanted = {  # issue 7: each view and the metric it must be drawn from
        "Records per second by topic and result": "ruaj_ingest_records_total",
        "Consumer lag": "ruaj_ingest_consumer_lag_records",
        "Seconds since last commit": "ruaj_ingest_last_commit_timestamp_seconds",
        "Batch latency p50 / p99": "ruaj_ingest_batch_duration_seconds_bucket",
        "Dead letters by reason": "ruaj_ingest_dlq_records_total",
        "Day partitions": "ruaj_store_partitions",
        "Oldest partition age against the window": "ruaj_retention_window_seconds",
        "Partitions dropped": "ruaj_retention_partitions_dropped_total",
        "Active legal holds": "ruaj_legal_holds_active",
        "Orders by state": "ruaj_disclosure_orders",
        "Releases and refusals": "ruaj_disclosure_refusals_total",
        "Audit checkpoint age": "ruaj_audit_last_checkpoint_timestamp_seconds",
    }
    for title, metric in wanted.items():
        assert metric in exprs[title], title
    assert "histogram_quantile(0.99," in exprs["Batch latency p50 / p99"]
    assert "ruaj_disclosure_releases_total" in exprs["Releases and refusals"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_logins_join_the_group_roles_the_migrations_create() -> None:
    sql = (DEPLOY / "postgres" / "logins.sql").read_text()
    granted = set(re.findall(r"^GRANT (\w+) TO \w+;", sql, re.MULTILINE))
    assert granted == {"ruaj_ingest", "ruaj_maintenance"}
    assert granted <= set(migrate.GROUP_ROLES)
    assert "SUPERUSER" not in sql.upper()


def test_dockerfile_copies_what_exists_and_runs_what_is_installed() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    copied = [
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE)
        for source in line.split()[:-1]
    ]
    assert {"ruaj", "ingest", "store", "disclosure", "schemas", "pyproject.toml"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), source
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.split(".")[0] for p in pyproject["tool"]["setuptools"]["packages"]}
    assert packages <= set(copied), "a package the wheel needs is not copied"
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT (.+)$", text, re.MULTILINE)[-1])
    assert entrypoint == ["ruaj"]
    assert entrypoint[0] in pyproject["project"]["scripts"]
    assert "embedded" not in text.split("pip install", 1)[1].splitlines()[0]
    assert re.search(r"^USER ruaj$", text, re.MULTILINE), "the services run unprivileged"
    assert "/healthz" in text
    python = re.findall(r"^FROM python:(\d+)\.(\d+)", text, re.MULTILINE)
    assert python and all((int(a), int(b)) >= (3, 11) for a, b in python)


def test_dockerignore_keeps_state_and_secrets_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*") :], "ignores everything by default"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    text = (DEPLOY / "Dockerfile").read_text()
    copied = {
        source
        for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE)
        for source in line.split()[:-1]
    }
    assert copied <= allowed
    assert not allowed & {".venv", ".ruaj", "deploy", "tests"}
