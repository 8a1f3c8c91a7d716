"""An order document (DESIGN §5): its exact bytes read, checked against `schemas/order.schema.json`
and the rules a schema cannot say, into a frozen pydantic model.

Anything that fails here makes the order `malformed`: it is recorded (its bytes kept) and
rejected at once. Besides the JSON Schema: the bytes are strict UTF-8 JSON without a byte-order
mark; no string holds NUL or an unpaired surrogate (PostgreSQL's jsonb, which reads the same
bytes again, refuses both); times are real instants; `valid_from < valid_until`; each task's
`from < to`; task ids are unique; and the recipient's key is an X25519 public key, to which the
package will be encrypted.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Literal

import jsonschema
import pydantic
from pydantic import BaseModel, ConfigDict, Field

import schemas
from disclosure import errors, recipient


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class IssuingAuthority(_Model):
    """Who issued the order, as the document says."""

    kind: Literal["court", "prosecutor"]
    name: str
    country: str


class Recipient(_Model):
    """The agency that receives the package, and its X25519 public key (PEM)."""

    agency: str
    public_key: str


class Identifier(_Model):
    """What a task is about; `port` and `observed_at` for ip_attribution only."""

    kind: Literal["msisdn", "imsi", "imei", "public_ip", "cell"]
    value: str
    port: int | None = None
    observed_at: datetime | None = None


class Task(_Model):
    """One task of an order."""

    task_id: str
    type: str
    identifier: Identifier
    range_from: datetime | None = Field(default=None, alias="from")
    range_to: datetime | None = Field(default=None, alias="to")


class OrderDocument(_Model):
    """An order document as signed."""

    order_reference: str
    issuing_authority: IssuingAuthority
    legal_basis: str
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime
    urgent: bool
    delay_subscriber_notice: bool
    recipient: Recipient
    tasks: tuple[Task, ...]

    @property
    def task_types(self) -> list[str]:
        """The distinct task types, in the order they first appear."""
        return list(dict.fromkeys(task.type for task in self.tasks))


def _malformed(message: str) -> errors.OrderRefused:
    return errors.OrderRefused("malformed", f"the order document is malformed: {message}")


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((schemas.directory() / "order.schema.json").read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _decode(data: bytes) -> object:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _malformed(f"not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    for string in _strings(value):
        if "\x00" in string:
            raise _malformed("a string holds a NUL character")
        try:
            string.encode("utf-8")
        except UnicodeEncodeError:
            raise _malformed("a string holds an unpaired surrogate") from None
    return value


def _check_schema(value: object) -> None:
    error = jsonschema.exceptions.best_match(_validator().iter_errors(value))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the document"
        raise _malformed(f"{where}: {error.message}")


def _check_rules(order: OrderDocument) -> None:
    if order.valid_from >= order.valid_until:
        raise _malformed("valid_from is not before valid_until")
    seen: set[str] = set()
    for task in order.tasks:
        if task.task_id in seen:
            raise _malformed(f"task id {task.task_id} appears twice")
        seen.add(task.task_id)
        if task.range_from is not None and task.range_to is not None:
            if task.range_from >= task.range_to:
                raise _malformed(f"task {task.task_id}: 'from' is not before 'to'")
    try:
        recipient.parse_public_key(order.recipient.public_key)
    except errors.Refused as exc:
        raise _malformed(str(exc)) from None


def parse(data: bytes) -> OrderDocument:
    """The order document of these exact bytes; raises `OrderRefused` (`malformed`) saying why."""
    value = _decode(data)
    _check_schema(value)
    try:
        order = OrderDocument.model_validate(value)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(part) for part in first["loc"])
        raise _malformed(f"{where}: {first['msg']}") from None
    _check_rules(order)
    return order
