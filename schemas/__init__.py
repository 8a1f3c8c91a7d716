"""The public contract: Avro schemas (`<record>.v<N>.avsc`) and the order JSON Schema."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable


def directory() -> Traversable:
    """The installed `schemas/` directory."""
    return resources.files(__name__)
