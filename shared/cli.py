"""The `todo-platform` command: the dev stack and the operational tools, one subcommand each."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _dev(_args: argparse.Namespace) -> int:
    """Run the whole stack locally (what `make run` calls)."""
    from shared.devstack.stack import run_dev_stack

    return run_dev_stack()


def _relay(_args: argparse.Namespace) -> int:
    """Publish the outbox from a process of its own until SIGINT/SIGTERM."""
    from shared.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"todo-platform relay: {exc}", file=sys.stderr)
        return 2
    from web.outbox.service import run_relay

    return run_relay(settings=settings)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="todo-platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev = commands.add_parser("dev", help="run the whole stack on this machine (make run)")
    dev.set_defaults(func=_dev)
    relay = commands.add_parser("relay", help="publish outbox events to Kafka (one active across all relays)")
    relay.set_defaults(func=_relay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; usage errors exit 2."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
