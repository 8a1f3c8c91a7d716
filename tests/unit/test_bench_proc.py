"""bench/_proc.py: the CPU and memory readings the ingest benchmark explains its figures with."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench import _proc

_BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_cpu_seconds_grows_with_work_and_is_zero_for_a_gone_process() -> None:
    before = _proc.cpu_seconds(os.getpid())
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    assert _proc.cpu_seconds(os.getpid()) - before >= 0.15
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert _proc.cpu_seconds(child.pid) == 0.0


def test_rss_reports_allocated_memory() -> None:
    before = _proc.rss_bytes(os.getpid())
    block = bytearray(64 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    assert _proc.rss_bytes(os.getpid()) - before >= 60 * 1024 * 1024
    del block


def test_server_cpu_counts_live_and_reaped_children() -> None:
    server = _proc.ServerCpu.of(os.getpid())
    start = server.seconds()
    live = subprocess.Popen([sys.executable, "-c", _BURN + "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        server.refresh()
        while _proc.cpu_seconds(live.pid) < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.pid in _proc.children_of(os.getpid())
        assert _proc.parent_of(live.pid) == os.getpid()
        assert server.seconds() - start >= 0.25  # a live child's time
    finally:
        live.kill()
        live.wait()
    reaped = subprocess.run([sys.executable, "-c", _BURN], check=True)
    assert reaped.returncode == 0
    server.refresh()
    # Both children are gone; their time is now in this process's cutime/cstime.
    assert server.seconds() - start >= 0.5
