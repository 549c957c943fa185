"""`flask --app web audit verify`: check the audit hash chains from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from tqdm import tqdm

from web.audit.verify import Verdict, count_rows, verify_trail
from web.extensions import db

audit_cli = AppGroup("audit", help="Inspect the audit trail.")


def summary(verdict: Verdict) -> str:
    """The one line a run ends with."""
    if verdict.broken is None:
        return f"audit trail intact: {verdict.rows} rows checked"
    link = verdict.broken
    return (
        f"audit trail BROKEN at row {link.id} (user {link.user_id}): {link.problem} - {link.detail} "
        f"({verdict.rows} rows checked)"
    )


@audit_cli.command("verify")
@click.option(
    "--user", "user_id", metavar="ID", help="Verify only this user's chain (default: every user's)."
)
def verify_command(user_id: str | None) -> None:
    """Recompute every audit row's hash chain; exit 0 if intact, 1 at the first broken link, 2 on bad usage.

    Each user's rows must link, in id order, from the genesis value through prev_hash to hash
    (SHA-256 of the previous hash and the row's canonical JSON). The report names the first
    row that breaks and whether it looks altered, deleted, inserted or reordered.
    """
    if user_id is not None and not user_id.strip():
        raise click.BadParameter("must not be empty", param_hint="--user")
    total = count_rows(session=db.session, user_id=user_id)
    with tqdm(total=total, unit="row", desc="verifying", disable=None, leave=False) as bar:
        verdict = verify_trail(session=db.session, user_id=user_id, progress=bar.update)
    click.echo(summary(verdict))
    raise SystemExit(0 if verdict.intact else 1)
