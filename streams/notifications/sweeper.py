"""Every worker sweeps now and then for mails claimed but never sent (their worker died meanwhile)."""

from __future__ import annotations

from streams.app import app, settings
from streams.notifications.service import resend_stale_claims

SWEEP_INTERVAL = max(0.5, settings.mail_claim_timeout_seconds / 4)


@app.timer(interval=SWEEP_INTERVAL)
async def sweep_unsent_mail() -> None:
    """Take over and send claims older than MAIL_CLAIM_TIMEOUT_SECONDS (at most one worker wins each)."""
    await resend_stale_claims(settings=settings)
