"""How `ruaj demo` tells its story: numbered sections, the `ruaj` commands it runs (each as a
subprocess, shown as the command line an operator would type, its output indented), and the
metrics it scrapes from the services it starts.

A command's JSON log lines go to a log file of its own (`<out>/logs/NN-command.log`), never to
the narrative; its other stderr lines (the human messages: "order 1 verified", refusals) are
shown with its output. Passwords travel in the child's environment and standard input only.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from prometheus_client import parser

from ruaj import config

Poll = Callable[[], Awaitable[None]]
Sample = tuple[str, dict[str, str], float]


class StepFailed(Exception):
    """A command of the demo did not end as it should (its output and log say why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """What a command printed, and how it exited."""

    returncode: int
    stdout: str
    messages: list[str]  # its stderr lines that are not JSON log lines


@dataclass(slots=True, kw_only=True)
class Run:
    """One run of the demo: where it writes, whom it connects as, what it found."""

    out: Path
    admin: dict[str, str]  # the environment of the administrator's commands
    officers: dict[str, dict[str, str]] = field(default_factory=dict)  # role → environment
    names: dict[str, str] = field(default_factory=dict)  # role → login name
    mismatches: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> str:
        """`ok` or `MISMATCH`, remembering what did not match."""
        if not ok:
            self.mismatches.append(what)
        return "ok" if ok else "MISMATCH"


def _is_log_line(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return "level" in json.loads(line)
    except ValueError:
        return False


class Narrator:
    """Prints the demo's narrative to `stream` and runs its commands."""

    def __init__(self, out: Path, stream: TextIO | None = None) -> None:
        self.out = out
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._stream = stream if stream is not None else sys.stdout
        self._sections = 0
        self._commands = 0

    def say(self, text: str = "") -> None:
        """One or more lines of narrative."""
        print(text, file=self._stream, flush=True)

    def section(self, title: str) -> None:
        """Start the next numbered section."""
        self._sections += 1
        self.say(f"\n== {self._sections}. {title}")

    def shown(self, path: Path) -> str:
        """`path` as the narrative names it: relative to the working directory when inside."""
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    def _indent(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines():
            self.say(f"    {line}")

    async def ruaj(
        self,
        *args: str,
        env: Mapping[str, str],
        who: str | None = None,
        stdin: str | None = None,
        expect: int = 0,
        poll: Poll | None = None,
        show_stdout: bool = True,
        condense: bool = False,
    ) -> Done:
        """Run `ruaj ARGS…` as a subprocess, show it and what it printed; `StepFailed` unless
        it exits with `expect`. `poll` is awaited about four times a second while it runs;
        `condense` shortens runs of similar lines of its output (all of it is in its log)."""
        line = "$ ruaj " + " ".join(shlex.quote(self._display(a)) for a in args)
        self.say(line + (f"      # as {who}" if who else ""))
        self._commands += 1
        words = [a for a in args[:2] if not a.startswith("-")]
        log = self.logs / f"{self._commands:02d}-{'-'.join(words)}.log"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ruaj", *args, env=dict(env),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        talk = asyncio.ensure_future(
            process.communicate(None if stdin is None else stdin.encode("utf-8"))
        )
        while not talk.done():
            if poll is not None:
                await poll()
            await asyncio.wait({talk}, timeout=0.25)
        out, err = talk.result()
        stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        log.write_text(f"{line}\n-- stdout\n{stdout}-- stderr\n{stderr}", encoding="utf-8")
        messages = [x for x in stderr.splitlines() if x.strip() and not _is_log_line(x)]
        if show_stdout:
            shown = stdout.splitlines()
            self._indent("\n".join(condensed(shown) if condense else shown))
        self._indent("\n".join(messages))
        done = Done(returncode=process.returncode or 0, stdout=stdout, messages=messages)
        if done.returncode != expect:
            raise StepFailed(
                f"`{line[2:]}` exited {done.returncode}, not {expect}; its log: {self.shown(log)}"
            )
        return done

    def _display(self, arg: str) -> str:
        path = Path(arg)
        return self.shown(path) if path.is_absolute() else arg


def condensed(lines: Sequence[str], keep: int = 2) -> list[str]:
    """`lines` with each run of more than `2 * keep + 1` lines that start with the same word
    shortened to its first and last `keep` lines around a count of those left out."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) > 2 * keep + 1:
            out.extend([*run[:keep], f"… {len(run) - 2 * keep} more like these …", *run[-keep:]])
        else:
            out.extend(run)
        run.clear()

    for line in lines:
        if run and line.split(" ", 1)[0] != run[0].split(" ", 1)[0]:
            flush()
        run.append(line)
    flush()
    return out


def scrape(port: int) -> list[Sample] | None:
    """The samples of `http://127.0.0.1:PORT/metrics`, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode("utf-8")
    except OSError:
        return None
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
    ]


def total(samples: Sequence[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels`."""
    return sum(
        value
        for found, their, value in samples
        if found == name and all(their.get(k) == v for k, v in labels.items())
    )


def metric_lines(samples: Sequence[Sample], names: Sequence[str]) -> list[str]:
    """The samples named in `names` (in that order) as exposition-format lines."""
    lines = []
    for name in names:
        for found, labels, value in samples:
            if found == name:
                shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                number = f"{value:.0f}" if value == int(value) else f"{value:.3f}"
                lines.append(f"{name}{{{shown}}} {number}" if shown else f"{name} {number}")
    return lines


def require_empty_or_ours(out: Path, marker: str) -> None:
    """`out` may be (re)used: it does not exist, is empty, or holds `marker` (an earlier demo's
    output); otherwise a usage error, so that nobody's files are deleted."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / marker).exists())):
        raise config.UsageError(
            f"{out} exists and was not written by ruaj demo: give another --out directory"
        )
