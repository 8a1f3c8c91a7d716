"""The wire forms of the ingest path: timestamps and addresses as PostgreSQL's binary COPY takes
them, so that a row's values go out as they are.

Rows on the ingest path (`ingest.codec` → `store.writer` → COPY, and the registry's arrays) carry

- `timestamptz` values as an `int`: microseconds since 2000-01-01 00:00 UTC, PostgreSQL's own
  epoch and unit (`timestamp`, `instant`, `day` convert);
- `inet` values as `bytes`: PostgreSQL's binary inet (address family, prefix bits, 0, address
  length, the packed address; `address`, `ip` convert).

A connection that writes such rows is prepared with `use(conn)`: asyncpg then sends each value's
bytes straight from the row (a `struct` pack of the integer, the address bytes unchanged).
asyncpg's own codecs take a `datetime` (compared with ±infinity, shifted to UTC, subtracted
from the epoch: four time-zone calls and two objects per value) and an `ipaddress` object built
from the packed bytes: about 4 µs a row of an IP session, a fifth of the worker's CPU. The
integers also make the ingest path's own comparisons, hashing and day arithmetic cheap.

`use` changes the connection both ways: `timestamptz` and `inet` values it reads come back in
the same wire forms. The ingest connection reads none; a test that reads through such a
connection calls `unuse` first.
"""

from __future__ import annotations

import ipaddress
import struct
from datetime import UTC, date, datetime, timedelta

from store import db

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
UNIX_TO_PG_US = 946_684_800_000_000  # microseconds from 1970-01-01 to 2000-01-01
DAY_US = 86_400_000_000
_ONE_US = timedelta(microseconds=1)
_PG_EPOCH_ORDINAL = PG_EPOCH.date().toordinal()
_TIMESTAMP = struct.Struct("!q")
# PostgreSQL's binary inet: family (PGSQL_AF_INET = AF_INET = 2, PGSQL_AF_INET6 = 3), prefix
# bits, is_cidr, address length; then the address.
_V4 = b"\x02\x20\x00\x04"
_V6 = b"\x03\x80\x00\x10"


def timestamp(instant_: datetime) -> int:
    """The wire form of an aware datetime."""
    if instant_.tzinfo is None:
        raise ValueError("a naive datetime has no instant: give it a time zone")
    return (instant_ - PG_EPOCH) // _ONE_US


def instant(value: int) -> datetime:
    """The UTC datetime of a wire timestamp."""
    return PG_EPOCH + timedelta(microseconds=value)


def day(value: int) -> date:
    """The UTC day a wire timestamp falls on."""
    return date.fromordinal(_PG_EPOCH_ORDINAL + value // DAY_US)


def address(packed: bytes) -> bytes:
    """The wire form of a packed IPv4 (4 bytes) or IPv6 (16 bytes) address."""
    if len(packed) == 4:
        return _V4 + packed
    if len(packed) == 16:
        return _V6 + packed
    raise ValueError(f"a packed address has 4 or 16 bytes, not {len(packed)}")


def ip(value: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address of a wire inet."""
    if value[:4] not in (_V4, _V6) or len(value) != 4 + value[3]:
        raise ValueError("not a host address in PostgreSQL's binary inet form")
    return ipaddress.ip_address(value[4:])


def _encode_address(value: bytes) -> bytes:
    # Strict: bytes(5) would be five zero bytes, not an error.
    if type(value) is not bytes:
        raise TypeError(f"an inet value on this connection is wire bytes, not {type(value)}")
    return value


def _decode_timestamp(data: bytes) -> int:
    value: int = _TIMESTAMP.unpack(data)[0]
    return value


async def use(conn: db.Connection) -> None:
    """Send (and read) `timestamptz` and `inet` on `conn` in the wire forms above."""
    await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=_TIMESTAMP.pack,
                              decoder=_decode_timestamp, format="binary")  # fmt: skip
    await conn.set_type_codec("inet", schema="pg_catalog", encoder=_encode_address,
                              decoder=bytes, format="binary")  # fmt: skip


async def unuse(conn: db.Connection) -> None:
    """Give `conn` asyncpg's own `timestamptz` and `inet` codecs back."""
    await conn.reset_type_codec("timestamptz", schema="pg_catalog")
    await conn.reset_type_codec("inet", schema="pg_catalog")
