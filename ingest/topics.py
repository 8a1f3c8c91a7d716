"""The dead-letter topic `ruaj.dlq` and its retention (DESIGN §4: dead letters 30 days).

`ruaj maintain` makes sure the topic exists with `retention.ms` set to the dead-letter window.
A new topic is created with the setting; an existing one is described and, when its setting
differs, altered. Brokers that cannot do that (the embedded Tansu broker accepts the setting at
creation and describes it, but has no AlterConfigs) are handled: the outcome says so and the
caller logs it, so operators set it by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from ingest.errors import IngestError
from ingest.settings import IngestSettings
from store import maintenance

logger = logging.getLogger(__name__)

DLQ = "ruaj.dlq"
_TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS
_MS_PER_DAY = 86_400_000

CREATED = "created"
UP_TO_DATE = "up to date"
ALTERED = "altered"
UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicRetention:
    """What `ensure_dlq` found or did, and the topic's `retention.ms` as the broker reports it
    (None when it does not say)."""

    outcome: str
    retention_ms: int | None
    detail: str = ""


def retention_ms(days: int) -> int:
    """A window in days as Kafka's `retention.ms`."""
    return days * _MS_PER_DAY


async def _described_retention(admin: AIOKafkaAdminClient) -> int | None:
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, DLQ, configs={"retention.ms": None})]
    )
    for response in responses:
        for resource in response.resources:
            code, _message, _type, _name, entries = resource[:5]
            if code != 0:
                raise IngestError(f"describing {DLQ} failed: Kafka error {code}")
            for entry in entries:
                if entry[0] == "retention.ms" and entry[1] is not None:
                    return int(entry[1])
    return None


async def ensure_dlq(
    settings: IngestSettings, retention_days: int, *, dry_run: bool = False
) -> TopicRetention:
    """Make `ruaj.dlq` exist with `retention.ms` = `retention_days`; returns what was done.

    With `dry_run`, only looks. Raises `IngestError` when the broker cannot be reached.
    """
    wanted = retention_ms(retention_days)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
    except KafkaError as exc:
        raise IngestError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        if dry_run:
            topics = await admin.list_topics()
            current = await _described_retention(admin) if DLQ in topics else None
            return TopicRetention(outcome="not changed (dry run)", retention_ms=current)
        cluster = await admin.describe_cluster()
        replicas = max(1, min(3, len(cluster.get("brokers", []))))
        config = {"retention.ms": str(wanted)}
        response = await admin.create_topics(
            [NewTopic(DLQ, settings.kafka_topic_partitions, replicas, topic_configs=config)]
        )
        code = response.topic_errors[0][1]
        if code not in (0, _TOPIC_EXISTS):
            raise IngestError(f"cannot create topic {DLQ}: Kafka error {code}")
        try:
            current = await _described_retention(admin)
        except (KafkaError, IngestError) as exc:
            return TopicRetention(
                outcome=UNSUPPORTED, retention_ms=None, detail=f"describe configs: {exc}"
            )
        if current == wanted:
            return TopicRetention(
                outcome=CREATED if code == 0 else UP_TO_DATE, retention_ms=current
            )
        try:
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, DLQ, configs=config)]
            )
        except KafkaError as exc:
            return TopicRetention(
                outcome=UNSUPPORTED, retention_ms=current, detail=f"alter configs: {exc}"
            )
        return TopicRetention(outcome=ALTERED, retention_ms=await _described_retention(admin))
    finally:
        await admin.close()


def maintenance_step(settings: IngestSettings | None, retention_days: int) -> maintenance.Step:
    """The `dlq_topic` step of `ruaj maintain`: make sure `ruaj.dlq` exists with its retention.

    Once it succeeded the step does nothing more in this process. Without
    `RUAJ_KAFKA_BOOTSTRAP` it says it is skipped.
    """
    done = False

    async def step(ctx: maintenance.Context) -> None:
        nonlocal done
        if settings is None:
            ctx.report(f"{DLQ}: skipped (RUAJ_KAFKA_BOOTSTRAP not set)")
            return
        if done:
            return
        result = await ensure_dlq(settings, retention_days, dry_run=ctx.dry_run)
        if result.outcome == UNSUPPORTED:
            logger.warning(
                "the broker does not support topic configuration: set retention.ms of the "
                "dead-letter topic by hand",
                extra={"topic": DLQ, "retention_ms": retention_ms(retention_days),
                       "detail": result.detail},
            )  # fmt: skip
        ctx.report(f"{DLQ}: {result.outcome} (retention.ms {result.retention_ms})")
        done = not ctx.dry_run

    return step
