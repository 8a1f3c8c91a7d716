"""The `ruaj` command: parses the command line, wires settings, maps failures to exit codes.

Exit codes (DESIGN §10): 0 done; 1 unexpected failure; 2 usage error (including a missing or
invalid setting: `config.UsageError`); 3 refused (`disclosure.errors.Refused`), with the reason
on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sys
from collections.abc import Sequence
from typing import Any

from disclosure import errors as disclosure_errors
from ruaj import config, logs, stack

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3

# Modules under ruaj.commands, in the order `ruaj --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "dev",
    "db",
    "simulate",
    "ingest",
    "audit",
    "authority",
    "officer",
    "order",
    "package",
    "maintain",
    "retention",
    "hold",
    "demo",
)

logger = logging.getLogger("ruaj")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="ruaj",
        description="ruaj: retained telecom data — ingest, retention, lawful disclosure, audit.",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of the JSON logs on stderr (default INFO)",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"ruaj.commands.{name}")
        module.register(commands)
    return parser


def run_handler(args: argparse.Namespace) -> int:
    """Run the chosen command's handler (sync or async) and return its exit code."""
    outcome: Any = args.handler(args)
    if inspect.isawaitable(outcome):
        outcome = asyncio.run(_await(outcome))
    return EXIT_OK if outcome is None else int(outcome)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ruaj` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    stack.apply_environment()
    try:
        return run_handler(args)
    except config.UsageError as exc:
        print(f"ruaj: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except disclosure_errors.Refused as exc:
        print(f"ruaj: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        logger.exception("command failed", extra={"command": args.command})
        print(f"ruaj: failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
