"""deploy/prometheus: the rules and the scrape config as Prometheus itself reads them.

`promtool check` validates syntax and PromQL; `promtool test rules` runs alerts_test.yml, which
shows every alert firing when it should and quiet when it should not. The tools come from Debian's
`prometheus` package (tests/prometheus.py); without it the tests skip, saying why.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests import prometheus
from tests.support import ROOT

pytestmark = pytest.mark.integration

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


def _promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    tools = prometheus.require()
    return subprocess.run(
        [str(tools.promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _alert_names() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return [rule["alert"] for group in rules["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    done = _promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alert_names())} rules found" in done.stdout


def test_promtool_checks_the_scrape_config() -> None:
    done = _promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_alert_unit_tests_pass() -> None:
    done = _promtool("test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_alert_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests can fail: with one threshold changed, promtool reports that alert."""
    rules = (PROMETHEUS_DIR / "alerts.yml").read_text()
    broken = rules.replace("> 0.001", "> 0.01")
    assert broken != rules
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS_DIR / "alerts_test.yml").read_text())
    done = _promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "alertname: RuajDeadLetterRate" in done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())
    firing: set[str] = set()
    quiet: set[str] = set()
    for group in tests["tests"]:
        for case in group["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    names = set(_alert_names())
    assert len(names) == len(_alert_names()), "alert names are unique"
    assert {
        "RuajIngestLagGrowing", "RuajIngestNoCommit", "RuajDeadLetterRate",
        "RuajRetentionOverdue", "RuajFuturePartitionsLow", "RuajAuditCheckpointStale",
        "RuajDisclosureRefusalBurst",
    } <= names  # fmt: skip
    assert firing == names
    assert quiet == names


def test_alerts_route_by_severity_and_never_label_identifiers() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
            grouping = re.findall(r"by \(([^)]*)\)", rule["expr"])
            labels = {label.strip() for found in grouping for label in found.split(",")}
            assert labels <= {"topic", "table", "reason", "state", "task_type"}, rule["alert"]


def _metric_names(text: str) -> set[str]:
    names = set(re.findall(r"\bruaj_[a-z0-9_]+", text))
    # A histogram is one metric with _bucket/_sum/_count series.
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}


def test_every_metric_used_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(ruaj_[a-z0-9_]+)", section, re.MULTILINE))
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "ruaj.json").read_text())
    exprs = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    )
    used = _metric_names(exprs) | _metric_names((PROMETHEUS_DIR / "alerts.yml").read_text())
    assert used - documented == set()
    assert documented - used == set(), "a documented metric no view or alert uses"
