"""Prometheus and promtool for the tests: Debian's `prometheus` package, found or fetched.

If `prometheus` and `promtool` are on PATH they are used. Otherwise the package is fetched with
`apt-get download` and unpacked with `dpkg-deb -x` into a cache directory: that needs no root and,
unlike `apt-get install`, never starts a system Prometheus daemon beside the test's own. When the
package lists are missing and the tests run as root (CI), `apt-get update` is run once first.
Where none of this works (no apt, no network), the caller skips with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

CACHE = Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "ruaj-tests"
_PACKAGE = "prometheus"


class Unavailable(Exception):
    """Prometheus cannot be found or installed on this machine."""


@dataclass(frozen=True, slots=True)
class Tools:
    """Paths of the two binaries."""

    prometheus: Path
    promtool: Path


def _on_path() -> Tools | None:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return Tools(Path(prometheus), Path(promtool))
    return None


def _unpacked(root: Path) -> Tools | None:
    tools = Tools(root / "usr/bin/prometheus", root / "usr/bin/promtool")
    if tools.prometheus.is_file() and tools.promtool.is_file():
        return tools
    return None


def _download(into: Path) -> Path:
    """Fetch the .deb into `into`; runs `apt-get update` once (as root) if the lists lack it."""
    command = ["apt-get", "download", "--quiet", _PACKAGE]
    attempt = subprocess.run(command, cwd=into, capture_output=True, text=True, check=False)
    if attempt.returncode != 0 and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "--quiet"], capture_output=True, check=False)
        attempt = subprocess.run(command, cwd=into, capture_output=True, text=True, check=False)
    debs = sorted(into.glob(f"{_PACKAGE}_*.deb"))
    if attempt.returncode != 0 or not debs:
        raise Unavailable(
            f"`apt-get download {_PACKAGE}` failed: {attempt.stderr.strip()[-300:] or 'no .deb'}"
        )
    return debs[0]


def tools() -> Tools:
    """Prometheus and promtool, fetching Debian's package into the cache if needed."""
    found = _on_path() or _unpacked(CACHE / _PACKAGE)
    if found:
        return found
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise Unavailable("no prometheus/promtool on PATH and no apt-get/dpkg-deb to fetch them")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        deb = _download(Path(work))
        staging = Path(work) / "root"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
        if _unpacked(staging) is None:
            raise Unavailable(f"{deb.name} holds no usr/bin/prometheus and usr/bin/promtool")
        # Rename into place at once, so a concurrent test run sees all or nothing.
        try:
            staging.rename(CACHE / _PACKAGE)
        except OSError:
            if _unpacked(CACHE / _PACKAGE) is None:
                raise
    result = _unpacked(CACHE / _PACKAGE)
    if result is None:
        raise Unavailable(f"unpacking {_PACKAGE} into {CACHE} failed")
    return result


def require() -> Tools:
    """The tools, or skip the calling test saying why they cannot be had here."""
    try:
        return tools()
    except Unavailable as exc:
        pytest.skip(f"Debian's prometheus package cannot be installed here: {exc}")


class Server:
    """A Prometheus of the test's own: scrapes `targets` every second and evaluates `rule_files`.

    Jobs and rule files are those of deploy/prometheus, so the job names the alert rules match on
    (`up{job=~"ruaj-.*"}`) are the deployed ones; only discovery becomes static targets.
    """

    def __init__(
        self, tools: Tools, workdir: Path, targets: dict[str, list[str]], rule_files: list[Path]
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tools = tools
        self._workdir = workdir
        self._log = workdir / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": addresses}]}
                for job, addresses in targets.items()
            ],
        }
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    str(self._tools.prometheus),
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self._workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not self._ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"prometheus did not start: {self._log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        """`data` of a successful answer of the HTTP API (`/api/v1/<path>`)."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar as one sample) `expr` evaluates to now."""
        data = self.api("query", query=expr)
        if data["resultType"] == "vector":
            result: list[dict[str, Any]] = data["result"]
            return result
        return [{"metric": {}, "value": data["result"]}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_SET_OPERATORS = ("and", "or", "unless")
_COMPARISONS = (">=", "<=", "==", "!=", ">", "<")
_NUMBER_ONLY = re.compile(r"^[\d.\s*+/()-]+$")


def operands(expr: str) -> list[str]:
    """The parts of a PromQL expression that compare or combine: what must each return data.

    `a > 300 and b > 0` gives `a` and `b`. A whole alert expression returns nothing when all is
    well (that is its point), so "returns data" is asked of its operands: a misspelt metric or
    label value leaves an operand empty. Splits only at the top level (outside brackets and
    strings); numeric operands are dropped.
    """
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = i = 0
    while i < len(expr):
        char = expr[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            word = re.match(r"(and|or|unless)\b", expr[i:]) if expr[i - 1 : i].isspace() else None
            op = (
                word.group(0)
                if word
                else next((c for c in _COMPARISONS if expr.startswith(c, i)), None)
            )
            if op:
                parts.append(expr[start:i])
                i += len(op)
                start = i
                continue
        i += 1
    parts.append(expr[start:])
    return [p.strip() for p in parts if p.strip() and not _NUMBER_ONLY.match(p.strip())]
