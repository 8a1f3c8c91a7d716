"""Errors of the store. asyncpg's exceptions are translated here and only here."""

from __future__ import annotations


class StoreError(Exception):
    """The database refused or failed an operation."""


class TransientStoreError(StoreError):
    """The database is unreachable or asked us to retry; the operation can be repeated."""


class MigrationError(StoreError):
    """The database's migrations do not match the ones shipped with this version."""


class InsufficientPrivilege(StoreError):
    """The database role in use may not do this."""


class InvalidRequest(StoreError):
    """The database refused a request as invalid (a bad argument, an unknown hold)."""


class PartitionDropFailed(StoreError):
    """Some expired partitions could not be dropped in this pass; the next pass retries them."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"could not drop {', '.join(names)} (retried on the next pass)")
        self.names = names
