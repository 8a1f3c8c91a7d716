"""Prometheus and promtool for the tests: Debian's `prometheus` package, found or fetched.

If `prometheus` and `promtool` are on PATH they are used. Otherwise the package is fetched with
`apt-get download` and unpacked with `dpkg-deb -x` into a cache directory: that needs no root and,
unlike `apt-get install`, never starts a system Prometheus daemon beside the test's own. When the
package lists are missing and the tests run as root (CI), `apt-get update` is run once first.
Where none of this works (no apt, no network), the caller skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

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
