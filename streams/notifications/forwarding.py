"""Handing the audited completions to the notifications agent through the worker's completions topic.

Why a topic of its own: every agent on task-events gets every message, and Faust feeds one only as
fast as the slowest takes them, so mail (an SMTP round trip per completion) paced audit rows and
counts. The audit agent forwards each valid completion, original key, bytes and headers, once it is
in audit_log; the notifications agent mails from there at its own pace, and its offsets advance only
after each mail is settled. A message the mail path dead-letters names the completions topic as its
source, so a redrive retries the mail without auditing or counting the event again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from faust.types import EventT

from shared.events import TaskEvent
from streams.notifications.service import wants_mail
from streams.topics import completions


async def forward_completions(audited: Sequence[tuple[EventT, TaskEvent]]) -> None:
    """Send the batch's completions to the completions topic and wait until the broker has them all."""
    pending = [
        await completions.send(
            key=event.message.key, value=event.message.value, headers=event.message.headers, force=True
        )
        for event, task_event in audited
        if wants_mail(task_event)
    ]
    await asyncio.gather(*pending)
