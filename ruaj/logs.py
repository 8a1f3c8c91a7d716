"""Structured logs: one JSON object per line on stderr.

Nothing personal goes into logs: callers pass counts, topics, partitions, offsets, reasons and
order ids — never an MSISDN, IMSI, IMEI, IP address or a subscriber's name.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def _withhold_database_details(exc: BaseException | None) -> None:
    """Drop a database error's DETAIL (row values) anywhere in the exception chain.

    `store.db.translated()` already does this at the store's boundary; this catches an error
    that escaped it, since a traceback prints every chained exception's `str()`. Recognised by
    shape (a `sqlstate` and a `detail`), as only `store/` imports asyncpg.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "sqlstate", None) and getattr(exc, "detail", None) is not None:
            exc.detail = None  # type: ignore[attr-defined]
        exc = exc.__cause__ or exc.__context__


class JsonFormatter(logging.Formatter):
    """Formats a record as a single-line JSON object with its `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            _withhold_database_details(record.exc_info[1])
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    """Send every logger's records, as JSON lines, to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs member ids, hosts and retries at INFO: useful to operators, never personal.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # pyHanko logs every failed signature check as a warning with a traceback; disclosure.verify
    # reports each one as the refusal's reason already. Shown with --log-level DEBUG.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(
            logging.DEBUG if root.level <= logging.DEBUG else logging.ERROR
        )
