"""The webhook data layer on the web side: endpoints, their secrets, and their recent deliveries."""

from __future__ import annotations

import base64
import secrets

from sqlalchemy import func, select, update

from shared.db import SessionLike
from shared.models import WebhookDelivery, WebhookEndpoint
from shared.webhooks import SECRET_PREFIX

SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def create_endpoint(
    *, session: SessionLike, user_id: str, url: str, event_types: tuple[str, ...]
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret, which is shown this once."""
    secret = new_secret()
    endpoint = WebhookEndpoint(user_id=user_id, url=url, event_types=list(event_types), secret=secret)
    session.add(endpoint)
    session.commit()
    return endpoint, secret


def list_endpoints(*, session: SessionLike, user_id: str) -> list[WebhookEndpoint]:
    """The user's endpoints, oldest first."""
    statement = select(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id).order_by(WebhookEndpoint.id)
    return list(session.scalars(statement))


def get_endpoint(*, session: SessionLike, user_id: str, endpoint_id: int) -> WebhookEndpoint | None:
    """One of the user's endpoints, or None (someone else's is None too)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.user_id == user_id else None


def delete_endpoint(*, session: SessionLike, user_id: str, endpoint_id: int) -> bool:
    """Remove an endpoint and what it was still owed; False when there is no such endpoint."""
    endpoint = get_endpoint(session=session, user_id=user_id, endpoint_id=endpoint_id)
    if endpoint is None:
        return False
    session.delete(endpoint)
    session.commit()
    return True


def rotate_secret(
    *, session: SessionLike, user_id: str, endpoint_id: int
) -> tuple[WebhookEndpoint, str] | None:
    """Give an endpoint a new secret (deliveries from now on are signed with it)."""
    endpoint = get_endpoint(session=session, user_id=user_id, endpoint_id=endpoint_id)
    if endpoint is None:
        return None
    endpoint.secret = new_secret()
    session.commit()
    return endpoint, endpoint.secret


def recent_deliveries(
    *, session: SessionLike, user_id: str, endpoint_id: int, limit: int = 10
) -> list[WebhookDelivery]:
    """An endpoint's latest deliveries, newest first."""
    statement = (
        select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.user_id == user_id, WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def redeliver(*, session: SessionLike, user_id: str, delivery_id: int) -> WebhookDelivery | None:
    """Queue a delivery again at once, and re-enable its endpoint: the user says it is fixed."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return None
    endpoint = get_endpoint(session=session, user_id=user_id, endpoint_id=delivery.endpoint_id)
    if endpoint is None:
        return None
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status="pending", attempts=0, next_attempt_at=func.now(), finished_at=None, leased_until=None)
    )
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    endpoint.failing_since = None
    session.commit()
    session.refresh(delivery)
    return delivery
