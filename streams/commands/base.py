"""What every operator command shares: exit codes, usage errors, progress bars and the summary line.

Faust runs an app command inside a mode Worker that turns any outcome into exit status 0 or 1 and
prints tracebacks; an operator's tool needs 0 (all well), 1 (found a problem) and 2 (bad usage)
with a one-line message, so these commands run their coroutine to completion themselves.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import Any, NoReturn, TypeVar

from faust.cli import AppCommand
from tqdm import tqdm

OK, PROBLEM, USAGE = 0, 1, 2
# Everything sent was acknowledged before stopping; a stop that hangs must not hold the shell.
STOP_SECONDS = 15.0
T = TypeVar("T")


class Usage(Exception):
    """The command line asks for something impossible; the message says what to type instead."""


class ToolCommand(AppCommand):
    """An app command whose `run` returns its exit status; bad usage is a message and status 2."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Run the command's coroutine, then exit with the status it returned."""
        try:
            code = asyncio.run(self.execute(*args, **{**self.kwargs, **kwargs}))
        except Usage as exc:
            name = self.ctx.info_name
            print(f"Error: {exc}\nTry 'faust -A streams.app {name} --help' for help.", file=sys.stderr)
            code = USAGE
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            code = 130
        sys.exit(code)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Run, then stop whatever the run started (Faust's producer), never waiting forever on it."""
        try:
            return await self.run(*args, **kwargs)
        finally:
            try:
                await asyncio.wait_for(self.on_stop(), STOP_SECONDS)
            except TimeoutError:
                print(f"warning: Faust's producer did not stop in {STOP_SECONDS:.0f}s", file=sys.stderr)


def progress(items: Iterable[T] | None = None, *, total: int | None = None, what: str) -> tqdm[T]:
    """A progress bar on stderr, shown only on a terminal so logs and pipes stay clean."""
    return tqdm(items, total=total, desc=what, unit="msg", file=sys.stderr, disable=None, leave=False)
