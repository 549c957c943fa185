"""Validation of webhook endpoints as users give them, and their JSON shapes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.events import EVENT_TYPES
from shared.models import WebhookDelivery, WebhookEndpoint
from shared.webhooks import address_problem
from web.requests import text_problem

MAX_URL = 2000
SCHEMES = ("http", "https")


@dataclass(frozen=True)
class EndpointInput:
    """A valid endpoint: where to POST, and which event types."""

    url: str
    event_types: tuple[str, ...]


def url_problem(url: str, *, allow_loopback: bool) -> str | None:
    """Why `url` cannot be a webhook endpoint, or None; addresses are checked again when delivering."""
    if text_problem(url):
        return text_problem(url)
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return "must be a valid URL"
    if parts.scheme not in SCHEMES or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "must not carry a user name or password"
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    return address_problem(address, allow_loopback=allow_loopback)


def parse_endpoint(
    body: dict[str, Any], *, allow_loopback: bool
) -> tuple[EndpointInput | None, dict[str, str]]:
    """Validate a new endpoint's JSON; errors name each field."""
    errors: dict[str, str] = {}
    url = body.get("url")
    if not isinstance(url, str):
        errors["url"] = "is required (an http:// or https:// URL)"
    elif problem := url_problem(url.strip(), allow_loopback=allow_loopback):
        errors["url"] = problem
    kinds = body.get("event_types", list(EVENT_TYPES))
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        errors["event_types"] = f"must be a non-empty list of {', '.join(EVENT_TYPES)}"
    elif unknown := sorted(set(kinds) - set(EVENT_TYPES)):
        errors["event_types"] = f"unknown event types: {', '.join(unknown)[:200]}"
    if errors:
        return None, errors
    chosen = tuple(kind for kind in EVENT_TYPES if kind in kinds)
    return EndpointInput(url=str(url).strip(), event_types=chosen), {}


def endpoint_json(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict[str, Any]:
    """The public JSON of an endpoint; the secret only when just made (creation, rotation)."""
    body: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.disabled_at is None,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at.isoformat(),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    """The public JSON of one delivery."""
    return {
        "id": delivery.id,
        "event_id": str(delivery.event_id),
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "finished_at": delivery.finished_at.isoformat() if delivery.finished_at else None,
    }
