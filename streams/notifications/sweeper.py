"""Every worker sweeps now and then for mails claimed but never sent (their worker died meanwhile)."""

from __future__ import annotations

import logging

from streams.app import app, settings
from streams.notifications.service import resend_stale_claims
from streams.retry import describe

log = logging.getLogger(__name__)
SWEEP_INTERVAL = max(0.5, settings.mail_claim_timeout_seconds / 4)


@app.timer(interval=SWEEP_INTERVAL)
async def sweep_unsent_mail() -> None:
    """Take over and send claims older than MAIL_CLAIM_TIMEOUT_SECONDS (at most one worker wins each)."""
    try:
        await resend_stale_claims(settings=settings)
    except Exception as exc:
        # Transient trouble is retried inside; anything else must not stop the timer (or the worker).
        log.error("mail sweep failed, trying again in %.0fs: %s", SWEEP_INTERVAL, describe(exc))
