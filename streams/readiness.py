"""Worker readiness and liveness: GET /ready/ once the worker holds its partitions, GET /live/
until an agent crashes (streams/crashes.py)."""

from __future__ import annotations

import logging
from typing import Any

from faust.web import Request, Response, View

from streams.app import app, settings
from streams.crashes import crashes

log = logging.getLogger(__name__)


class Readiness:
    """Whether the last rebalance finished (partitions assigned, tables recovered) and what we hold."""

    def __init__(self) -> None:
        self.ready = False
        self.partitions: list[int] = []

    def body(self) -> dict[str, Any]:
        """The JSON the readiness endpoint returns."""
        return {"ready": self.ready, "topic": settings.task_events_topic, "partitions": self.partitions}


state = Readiness()


def held_partitions() -> list[int]:
    """The task-events partitions this worker is actively assigned."""
    assigned = app.assignor.assigned_actives()
    return sorted(tp.partition for tp in assigned if tp.topic == settings.task_events_topic)


@app.on_partitions_revoked.connect
def _on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    """A rebalance started: not ready until it completes."""
    state.ready = False


@app.on_rebalance_complete.connect
def _on_rebalanced(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    """A rebalance finished: log the line `make run` and the tests wait for, and serve 200."""
    state.partitions = held_partitions()
    state.ready = True
    log.info("worker ready: holding partitions %s of %s", state.partitions, settings.task_events_topic)


@app.page("/ready/")
class Ready(View):
    """200 once this worker holds its partitions, 503 before and during a rebalance."""

    async def get(self, request: Request) -> Response:
        """Report readiness and the partitions held."""
        ready = state.ready and not app.rebalancing
        return self.json(state.body() | {"ready": ready}, status=200 if ready else 503)


@app.page("/live/")
class Live(View):
    """200 until an agent crashes; then 503 naming each crashed agent, until the pod restarts."""

    async def get(self, request: Request) -> Response:
        """Report liveness and, when not live, each crashed agent's count and last error."""
        crashed = crashes.crashed()
        return self.json({"live": not crashed, "crashed": crashed}, status=503 if crashed else 200)
