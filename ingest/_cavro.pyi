"""Types of the C reader (ingest/_cavro.c); see ingest.avro_reader for the plan it takes."""

from collections.abc import Callable
from typing import Any

NULL: int
BOOL: int
LONG: int
LONG_F: int
FLOAT: int
DOUBLE: int
STRING: int
BYTES: int
ENUM: int
FIXED: int
UNION: int

class Program:
    def __init__(
        self,
        steps: tuple[tuple[Any, ...], ...],
        slots: int,
        defaults: tuple[tuple[int, Any], ...],
        malformed: Callable[[str], BaseException],
        bad_enum: Callable[[str, int], BaseException],
    ) -> None: ...
    def read(self, data: bytes, start: int, /) -> tuple[tuple[Any, ...], int]: ...
