"""`ruaj ingest` keeps the garbage collector off its hot path (ruaj.commands.ingest.tune_gc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ruaj.commands import ingest


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_young_collections_are_rare() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    ingest.tune_gc()
    assert gc.get_freeze_count() > 10_000  # modules, classes, schemas: out of every collection
    assert gc.get_threshold() == ingest.GC_THRESHOLDS
    assert gc.get_threshold()[0] >= 70 * 700  # default 700: 70 times fewer young collections


@pytest.mark.usefixtures("restored_gc")
def test_cycles_made_afterwards_are_still_collected() -> None:
    ingest.tune_gc()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
