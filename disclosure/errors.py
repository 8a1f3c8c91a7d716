"""Errors of disclosure."""

from __future__ import annotations


class DisclosureError(Exception):
    """Disclosure failed."""


class Refused(DisclosureError):
    """Refused: an order that fails verification, a request outside scope, a missing approval.

    The `ruaj` command exits 3 with this message, which says why, on stderr.
    """
