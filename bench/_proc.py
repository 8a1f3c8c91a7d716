"""CPU time and resident memory of processes, from /proc (Linux), to say where time goes.

A benchmark that compares rates on a shared machine also needs to know who spent the CPU: the
worker (Python), the PostgreSQL server (every backend of its postmaster, including the ones
that have exited since: their time is added to the postmaster's `cutime`/`cstime` when it
reaps them) and the broker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may hold spaces), or None."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of `pid` (plus its reaped children's with `children`); 0 if
    it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` in bytes (0 if it is gone)."""
    try:
        text = (_PROC / str(pid) / "statm").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(text.split()[1]) * _PAGE


def parent_of(pid: int) -> int:
    """The parent process id of `pid`."""
    fields = _stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return int(fields[1])


def children_of(pid: int) -> list[int]:
    """Live child processes of `pid`."""
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass(slots=True)
class ServerCpu:
    """CPU seconds spent by a server made of a parent and its (short- or long-lived) children,
    like a postmaster and its backends.

    `seconds()` adds the parent's own and reaped children's time to the live children's. The
    list of children is refreshed by `refresh()`, not on every reading, so that reading stays
    cheap enough to sample often.
    """

    parent: int
    _children: list[int]

    @classmethod
    def of(cls, parent: int) -> ServerCpu:
        """The server whose parent process is `parent`."""
        return cls(parent, children_of(parent))

    def refresh(self) -> None:
        """Look for children again (new connections start new backends)."""
        self._children = children_of(self.parent)

    def seconds(self) -> float:
        """CPU seconds used so far by the parent and all its children, live or reaped.

        A child that exits between `refresh()` and this reading is counted neither live nor
        reaped until the parent reaps it: refresh right before the readings that matter.
        """
        total = cpu_seconds(self.parent, children=True)
        return total + sum(cpu_seconds(child) for child in self._children)
