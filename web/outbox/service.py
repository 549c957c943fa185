"""`flask --app web relay`: the relay as its own process, for deployments that want it separate."""

from __future__ import annotations

import signal
from types import FrameType

from sqlalchemy.pool import NullPool

from shared.db import make_engine
from shared.logs import configure_logging
from shared.settings import Settings
from web.metrics import serve_metrics
from web.outbox.publishers import make_publisher
from web.outbox.relay import Relay


def run_relay(*, settings: Settings) -> int:
    """Run the relay in the foreground until SIGINT or SIGTERM, then stop cleanly."""
    configure_logging(settings)
    if settings.relay_metrics_port:
        serve_metrics(port=settings.relay_metrics_port)
    relay = Relay(
        engine=make_engine(settings, poolclass=NullPool),
        publisher=make_publisher(settings),
        settings=settings,
    )

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        """Finish the current round, release the lock, exit."""
        relay.stop(timeout=0)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    relay.run_forever()
    return 0
