"""`faust -A streams.app dlq list|show|redrive`: look at dead letters and send them back once fixed."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

import click
from faust.cli import argument, option

from shared.settings import Settings
from streams.app import app, settings
from streams.commands.base import OK, PROBLEM, ToolCommand, Usage
from streams.commands.dead_letters import DeadLetter, Letters, load
from streams.commands.destination import destination, source_topic
from streams.commands.reading import open_consumer, parse_position, parse_since, partitions
from streams.commands.redrive import redrive_letters
from streams.commands.safe import safe_bytes, safe_text
from streams.deadletter import OFFSET_HEADER, PARTITION_HEADER
from streams.decoding import DecodeError, try_decode

KEY_WIDTH = 40


def matching(found: Letters, *, reason: str | None, since: datetime | None) -> list[DeadLetter]:
    """The letters with this reason written at or after this time."""
    return [
        letter
        for letter in found.letters
        if (reason is None or letter.reason == reason) and (since is None or letter.timestamp >= since)
    ]


def row(letter: DeadLetter, found: Letters) -> str:
    """One line of `dlq list`: offset, time, reason, size, key, state."""
    state = found.state(letter)
    size = f"{letter.size}{' (truncated)' if letter.truncated else ''}"
    key = safe_bytes(letter.key)[:KEY_WIDTH]
    when = letter.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"{letter.position:<10} {when}  {safe_text(letter.reason):<20} {size:>8}  {key:<{KEY_WIDTH}} {state}"
    )


def list_letters(found: Letters, chosen: Sequence[DeadLetter]) -> int:
    """Print the table and its summary; listing is never a failure."""
    print(f"{'OFFSET':<10} {'TIME':<20}  {'REASON':<20} {'SIZE':>8}  {'KEY':<{KEY_WIDTH}} STATE")
    for letter in chosen:
        print(row(letter, found))
    pending = sum(found.state(letter) != "redriven" for letter in chosen)
    print(f"dlq list: {len(chosen)} dead letters in {settings.task_events_dlq_topic}, {pending} pending")
    return OK


def body_text(value: bytes | None) -> str:
    """The body as indented JSON when it is JSON, else as (escaped) text."""
    try:
        parsed = json.loads(value or b"")
    except ValueError:
        return safe_bytes(value, keep_newlines=True)
    return safe_text(json.dumps(parsed, indent=2, ensure_ascii=False), keep_newlines=True)


def show_letter(letter: DeadLetter, found: Letters) -> int:
    """Print one letter's headers, body and what decoding makes of it now."""
    state = found.state(letter)
    print(f"dead letter {letter.position} of {settings.task_events_dlq_topic} ({state})")
    print(f"time: {letter.timestamp.isoformat()}\nkey: {safe_bytes(letter.key)}\nheaders:")
    for name, value in letter.headers:
        print(f"  {safe_text(name)}: {safe_bytes(value)}")
    print("body:")
    print(body_text(letter.value))
    decoded = try_decode(letter.value, max_bytes=settings.max_event_bytes)
    verdict = f"still refused: {decoded}" if isinstance(decoded, DecodeError) else "decodes now"
    reason = safe_text(letter.reason)
    print(f"dlq show: {letter.position}, {letter.size} bytes, reason {reason}; {safe_text(verdict)}")
    return OK


def source(letter: DeadLetter) -> str:
    """The replay command that reads the original message where it still is."""
    partition = safe_bytes(letter.header(PARTITION_HEADER))
    offset = safe_bytes(letter.header(OFFSET_HEADER))
    return f"`faust -A streams.app replay --from-offset {partition}:{offset}`"


def sent_summary(sent: Mapping[str, int], settings: Settings) -> str:
    """How many letters went back, and to which topics: `3 sent back to task-events (2) and X (1)`."""
    if len(sent) <= 1:
        return f"{sum(sent.values())} sent back to {next(iter(sent), settings.task_events_topic)}"
    return f"{sum(sent.values())} sent back to " + " and ".join(f"{t} ({n})" for t, n in sorted(sent.items()))


async def redrive(found: Letters, chosen: Sequence[DeadLetter]) -> int:
    """Send each letter back once; truncated copies, letters from elsewhere and letters in doubt stay."""
    outcome = await redrive_letters(found, chosen, settings)
    for letter in outcome.truncated:
        print(f"{letter.position}: only a truncated copy is here; replay {source(letter)} instead")
    for letter in outcome.nowhere:
        print(
            f"{letter.position}: it came from {safe_text(source_topic(letter)) or 'no topic it names'}, "
            f"which this worker does not read; not sent (`dlq show {letter.position}`)"
        )
    for letter in outcome.in_doubt:
        print(
            f"{letter.position}: a redrive of it was interrupted and {destination(letter, settings)} "
            f"no longer holds where its copy would be; look for its event (`dlq show {letter.position}`) "
            "in audit_log"
        )
    doubt = f", {len(outcome.in_doubt)} in doubt" if outcome.in_doubt else ""
    nowhere = f", {len(outcome.nowhere)} from an unknown topic" if outcome.nowhere else ""
    print(
        f"dlq redrive: {sent_summary(outcome.sent, settings)}, {outcome.already} already redriven, "
        f"{len(outcome.truncated)} truncated{nowhere}{doubt}"
    )
    return PROBLEM if outcome.truncated or outcome.in_doubt or outcome.nowhere else OK


async def position_of(text: str | None, action: str) -> str:
    """OFFSET as PARTITION:OFFSET (a bare N means partition 0 of a one-partition DLQ)."""
    if text is None:
        raise Usage(f"dlq {action} needs the OFFSET of a dead letter (as `dlq list` shows it)")
    if text.isdigit():
        async with open_consumer(settings) as consumer:
            if len(await partitions(consumer, settings.task_events_dlq_topic)) > 1:
                raise Usage(f"{settings.task_events_dlq_topic} has several partitions: give OFFSET as P:N")
        return f"0:{text}"
    partition, offset = parse_position(text, "OFFSET")
    return f"{partition}:{offset}"


def check_usage(
    action: str, position: str | None, everything: bool, reason: str | None, since: str | None
) -> None:
    """Refuse option combinations the action does not take, naming what it does take."""
    if action == "list" and (position is not None or everything):
        raise Usage("dlq list takes no OFFSET and no --all; filter with --reason and --since")
    if action == "show" and (everything or reason or since):
        raise Usage("dlq show takes one OFFSET and no other option")
    if action == "redrive" and (position is not None) == everything:
        raise Usage("dlq redrive takes one OFFSET or --all (optionally with --reason and --since)")
    if action == "redrive" and position is not None and (reason or since):
        raise Usage("--reason and --since choose letters for --all; an OFFSET names one already")


@app.command(
    argument("action", type=click.Choice(["list", "show", "redrive"])),
    argument("offset", required=False),
    option(
        "--reason", metavar="R", help="Only dead letters with this reason (x-dlq-error), e.g. invalid-json."
    ),
    option(
        "--since", metavar="ISO-TIME", help="Only dead letters written at or after this time (with a zone)."
    ),
    option("--all", "everything", is_flag=True, help="redrive: every pending dead letter (that matches)."),
    base=ToolCommand,
)
async def dlq(
    self: ToolCommand,
    action: str,
    offset: str | None,
    reason: str | None,
    since: str | None,
    everything: bool,
) -> int:
    """List dead letters, show one, or redrive them to where they came from once the cause is fixed.

    \b
    dlq list [--reason R] [--since T]    offset, time, reason, size, key and state of each
    dlq show OFFSET                      headers and body, control characters escaped
    dlq redrive OFFSET|--all [--reason R] [--since T]
                                         send back to the source topic, each letter once only

    OFFSET is PARTITION:OFFSET as `dlq list` prints it (a bare N when the DLQ has one partition).
    A letter goes back to the topic it was read from (x-dlq-source-topic): task-events, or the
    worker's completions topic for mail failures (only the mail is retried; nothing is counted
    again). A letter from any other topic is not sent. A redriven letter is marked in the DLQ and
    skipped by later redrives; a letter whose redrive was killed half-way is listed as interrupted,
    and the next redrive sends it only if its destination does not hold its copy. Exit 0 when done,
    1 when a letter is not there, only a truncated copy could be redriven, a letter came from an
    unknown topic or is in doubt, 2 for bad usage.
    """
    check_usage(action, offset, everything, reason, since)
    moment = parse_since(since) if since else None
    position = await position_of(offset, action) if offset is not None or action == "show" else None
    async with open_consumer(settings) as consumer:
        found = await load(consumer, settings)
    if action == "list":
        return list_letters(found, matching(found, reason=reason, since=moment))
    if position is not None:
        letter = found.find(position)
        if letter is None:
            print(f"dlq {action}: no dead letter at {position} in {settings.task_events_dlq_topic}")
            return PROBLEM
        return show_letter(letter, found) if action == "show" else await redrive(found, [letter])
    return await redrive(found, matching(found, reason=reason, since=moment))
