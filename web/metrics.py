"""Prometheus metrics of the web app, served at /metrics, adding up across gunicorn's workers.

Under gunicorn (see gunicorn.conf.py) every worker writes its counters to files in
PROMETHEUS_MULTIPROC_DIR and a scrape, answered by any one worker, merges them all. The outbox
figures are read from the database at scrape time, so they are the same whichever worker answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from shared.db import SessionLike
from shared.settings import Settings
from web.outbox import repository

# The outbox is counted up to this many rows per scrape; a bigger backlog reads as this figure.
PENDING_CAP = 1_000_000
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "todo_http_requests", "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)  # fmt: skip
REQUEST_SECONDS = Histogram(
    "todo_http_request_duration_seconds", "Time to answer an HTTP request, by route template and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
PUBLISHED = Counter("todo_outbox_published", "Outbox events the broker acknowledged.")
PUBLISH_FAILURES = Counter("todo_outbox_publish_failures", "Outbox publish attempts that failed.")


def init_app(app: Flask) -> None:
    """Time every request and serve /metrics."""
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics.scrape", scrape, methods=["GET"])


def serve_metrics(*, port: int) -> None:
    """Serve this process's metrics on their own port (the separate relay has no web app to ask)."""
    # All interfaces: the relay runs in a pod that Prometheus scrapes; the port is off unless set.
    start_http_server(port, addr="0.0.0.0")  # noqa: S104


def record_publish_round(*, published: int, failed: int) -> None:
    """Count one relay round's acknowledged and failed events."""
    PUBLISHED.inc(published)
    PUBLISH_FAILURES.inc(failed)


def _start_timer() -> None:
    """Note when the request started."""
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    """Count the answer under its route template (not the raw path, which would explode the series)."""
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    if "metrics_started" in g:
        REQUEST_SECONDS.labels(route, request.method).observe(time.perf_counter() - g.metrics_started)
    return response


class OutboxCollector(Collector):
    """The outbox backlog, parked events and relay leadership, read from the database when scraped."""

    def __init__(self, session: SessionLike) -> None:
        self.session = session

    def collect(self) -> Iterator[Metric]:
        """Yield the pending and parked counts, the oldest pending age and whether a relay leads."""
        waiting = repository.backlog(session=self.session, cap=PENDING_CAP)
        parked = repository.parked_count(session=self.session)
        leader = repository.relay_leader_present(session=self.session)
        yield GaugeMetricFamily("todo_outbox_pending_events", "Outbox events not yet published.",
                                value=waiting.pending)  # fmt: skip
        yield GaugeMetricFamily("todo_outbox_oldest_pending_age_seconds",
                                "How long the oldest unpublished outbox event has waited.",
                                value=waiting.oldest_age)  # fmt: skip
        yield GaugeMetricFamily("todo_outbox_parked_events",
                                "Outbox events the relay gave up on until an operator retries them.",
                                value=parked)  # fmt: skip
        yield GaugeMetricFamily("todo_outbox_relay_leader", "1 when a relay holds the relay lock, else 0.",
                                value=1.0 if leader else 0.0)  # fmt: skip


def exposition(*, session: SessionLike, settings: Settings) -> bytes:
    """The metrics text: this process's (or all workers') series plus the outbox figures."""
    outbox = CollectorRegistry(auto_describe=False)
    outbox.register(OutboxCollector(session))
    if settings.prometheus_multiproc_dir:
        MultiProcessCollector(outbox, path=settings.prometheus_multiproc_dir)
        return generate_latest(outbox)
    return generate_latest(REGISTRY) + generate_latest(outbox)


def scrape() -> Response:
    """Serve the Prometheus text format to direct requests; through a proxy it does not exist."""
    from web.extensions import db

    # The ingress routes every path to the web pods; a proxy always adds X-Forwarded-For, a
    # Prometheus scraping the pod directly never does. So the public site has no /metrics.
    if request.headers.get("X-Forwarded-For"):
        abort(404)
    body = exposition(session=db.session, settings=current_app.config["TODO_SETTINGS"])
    return Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST)
