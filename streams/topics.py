"""The topics the worker reads and writes, named by the settings; values stay raw bytes here."""

from __future__ import annotations

from shared.settings import Settings
from streams.app import app, settings


def completions_topic_name(settings: Settings) -> str:
    """The worker's internal completions topic (the notifications agent reads it; `dlq redrive` writes it)."""
    return f"{settings.worker_app_id}-completions"


# Raw bytes in and out: decoding is ours (streams.decoding), and the DLQ must keep the original bytes.
task_events = app.topic(
    settings.task_events_topic,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.task_events_partitions,
)
task_events_dlq = app.topic(
    settings.task_events_dlq_topic,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
)
# The valid completions the audit agent has written, forwarded untouched (key, bytes, headers) so the
# mail path reads only what it mails and never holds back the audit path. Internal to the worker.
completions = app.topic(
    completions_topic_name(settings),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.task_events_partitions,
    internal=True,
)
