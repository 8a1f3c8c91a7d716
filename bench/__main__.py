"""`make bench` — run the benchmarks (all, or those named) and write bench/results/.

    python -m bench [NAME ...] [--quick] [--events N]

PostgreSQL is `RUAJ_BENCH_DATABASE_URL` (a superuser URL) or an embedded server started for the
run, with durable settings (fsync on), like production. `--quick` shrinks every data set so the
whole run takes a few minutes: for checking that the benchmarks work, not for figures.
`--events N` sets the number of events of the benchmarks that stream events (ingest).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import pkgutil
import sys
import tempfile
from pathlib import Path

from bench.support import Env, Report
from ruaj import logs, stack

_NOT_BENCHMARKS = {"support"}


def available() -> list[str]:
    """Names of the benchmark modules in bench/."""
    here = Path(__file__).resolve().parent
    return sorted(
        m.name
        for m in pkgutil.iter_modules([str(here)])
        if not m.name.startswith("_") and m.name not in _NOT_BENCHMARKS
    )


async def _run(names: list[str], env: Env) -> list[Report]:
    reports = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", file=sys.stderr, flush=True)
        report: Report = await module.run(env)
        path = report.write()
        print(f"\n{report.name}\n{report.table()}")
        for note in report.notes:
            print(f"  - {note}")
        print(f"  (written to {path})", flush=True)
        reports.append(report)
    return reports


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks."""
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *names], metavar="NAME",
                        help=f"benchmarks to run (default all: {', '.join(names)})")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small data sets, for a smoke run")
    parser.add_argument("--events", type=_positive, metavar="N",
                        help="events to stream, for the benchmarks that stream events")  # fmt: skip
    args = parser.parse_args(argv)
    logs.configure("WARNING")
    with tempfile.TemporaryDirectory(prefix="ruaj-bench-") as tmp:
        workdir = Path(tmp)
        admin_url = os.environ.get("RUAJ_BENCH_DATABASE_URL")
        server = None
        if not admin_url:
            server = stack.Postgres(workdir / "pg", stack.free_port())
            server.start()
            admin_url = server.url
        try:
            env = Env(admin_url=admin_url, workdir=workdir, quick=args.quick, events=args.events)
            asyncio.run(_run(args.names or names, env))
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
