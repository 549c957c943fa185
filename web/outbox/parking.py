"""`flask --app web outbox parked|retry`: the events the broker refused for good, and putting them back."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from web.extensions import db
from web.outbox import repository

LIST_LIMIT = 1000


@click.group("outbox")
def outbox_group() -> None:
    """Inspect and retry outbox events the relay parked (the broker refused them for good)."""


@outbox_group.command("parked")
@click.option("--limit", type=click.IntRange(min=1), default=LIST_LIMIT, show_default=True,
              help="list at most this many")  # fmt: skip
@with_appcontext
def parked_command(limit: int) -> None:
    """List parked events, oldest first, then a summary line. Exit 1 if the database is unreachable."""
    try:
        events = repository.parked_events(session=db.session, limit=limit)
        total = repository.parked_count(session=db.session)
    except SQLAlchemyError as exc:
        click.echo(f"outbox parked: database unreachable: {type(exc).__name__}", err=True)
        sys.exit(1)
    for event in events:
        click.echo(f"{event.row_id}\t{event.event_id}\t{event.user_id}\t{event.event_type}\t"
                   f"attempts={event.attempts}\tparked={event.parked_at}\t{event.last_error}")  # fmt: skip
    click.echo(f"{total} parked event(s)" + (f", {len(events)} shown" if len(events) < total else ""))


@outbox_group.command("retry")
@click.argument("row_ids", metavar="[ID]...", nargs=-1, type=click.IntRange(min=1))
@click.option("--all", "all_", is_flag=True, help="retry every parked event")
@with_appcontext
def retry_command(row_ids: tuple[int, ...], all_: bool) -> None:
    """Put parked events back in the queue (IDs from `outbox parked`, or --all).

    Exit 0 when every one was requeued, 1 when an ID is not parked (the others are requeued),
    2 for a usage error.
    """
    if bool(row_ids) == all_:
        raise click.UsageError("give the IDs of parked events, or --all (not both)")
    try:
        requeued = repository.unpark(session=db.session, row_ids=None if all_ else list(row_ids))
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        click.echo(f"outbox retry: database unreachable: {type(exc).__name__}", err=True)
        sys.exit(1)
    missing = sorted(set(row_ids) - set(requeued))
    if missing:
        click.echo(f"not parked: {', '.join(map(str, missing))}", err=True)
    click.echo(f"requeued {len(requeued)} event(s)")
    sys.exit(1 if missing else 0)
