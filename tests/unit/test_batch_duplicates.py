"""A write batch removes re-sent events, and only those (store.writer.Batch.add): the primary
key is (event_id, event time)."""

from __future__ import annotations

import uuid

from store import writer

_TOPIC = "ruaj.imei"


def _item(offset: int, event_id: uuid.UUID, at: int) -> writer.Item:
    row = (event_id, at, "356938035643809", "221020000000001", "38344000001", "cell-7",
           "ATTACH", "mme-1")  # fmt: skip
    return writer.Item(_TOPIC, 0, offset, "imei_observation", row, at)


def test_a_re_sent_event_is_counted_once_and_an_id_met_at_another_time_is_kept() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    batch = writer.Batch.of(
        [
            _item(0, a, 100),
            _item(1, a, 100),  # re-sent
            _item(2, a, 200),  # the same id at another time: another row of the table
            _item(3, a, 200),  # that one re-sent
            _item(4, a, 300),
            _item(5, b, 100),
            _item(6, a, 100),  # the first one again
            _item(7, b, 100),
        ]
    )
    stored = [(row[0], row[1]) for row in batch.rows["imei_observation"]]
    assert stored == [(a, 100), (a, 200), (a, 300), (b, 100)]
    assert batch.counts[(_TOPIC, writer.DUPLICATE)] == 4
    assert len(batch) == 8
    assert batch.next_offsets == {(_TOPIC, 0): 8}
