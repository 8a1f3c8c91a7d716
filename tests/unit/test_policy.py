"""The disclosure policy: which authority kind may order which task type (no I/O)."""

from __future__ import annotations

import pytest

from disclosure import policy
from disclosure.settings import DisclosureSettings
from ruaj import config


def test_the_default_policy() -> None:
    rules = policy.Policy.from_settings(DisclosureSettings())
    assert rules.allowed["prosecutor"] == {"subscriber_data", "ip_attribution", "preservation"}
    assert rules.allowed["court"] == set(policy.TASK_TYPES)
    assert len(policy.TASK_TYPES) == 7
    assert rules.forbidden("prosecutor", ["traffic_data", "subscriber_data", "cell_dump"]) == [
        "cell_dump",
        "traffic_data",
    ]
    assert rules.forbidden("court", policy.TASK_TYPES) == []
    assert rules.forbidden("police", ["subscriber_data"]) == ["subscriber_data"]


def test_the_policy_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUAJ_POLICY_PROSECUTOR_TASKS", " subscriber_data , traffic_data,")
    monkeypatch.setenv("RUAJ_POLICY_COURT_TASKS", "preservation")
    settings = config.load(DisclosureSettings)
    assert settings.policy_prosecutor_tasks == {"subscriber_data", "traffic_data"}
    assert policy.Policy.from_settings(settings).forbidden("court", ["sms_data"]) == ["sms_data"]


def test_an_unknown_task_type_fails_at_start_with_the_variables_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUAJ_POLICY_PROSECUTOR_TASKS", "subscriber_data,trafic_data")
    with pytest.raises(config.UsageError) as failed:
        config.load(DisclosureSettings)
    assert "RUAJ_POLICY_PROSECUTOR_TASKS" in str(failed.value)
    assert "unknown task type(s) trafic_data" in str(failed.value)


def test_signer_ekus_must_be_dotted_oids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUAJ_ORDER_SIGNER_EKUS", "1.3.6.1.5.5.7.3.36, 1.3.6.1.4.1.311.10.3.12")
    assert config.load(DisclosureSettings).order_signer_ekus == (
        "1.3.6.1.5.5.7.3.36",
        "1.3.6.1.4.1.311.10.3.12",
    )
    monkeypatch.setenv("RUAJ_ORDER_SIGNER_EKUS", "documentSigning")
    with pytest.raises(config.UsageError, match="RUAJ_ORDER_SIGNER_EKUS"):
        config.load(DisclosureSettings)
