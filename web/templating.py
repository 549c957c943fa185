"""What every page template may use: who is signed in, which endpoints exist, safe redirects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, has_request_context

from web.sessions import current_user_id


def local_path(target: str | None) -> str | None:
    """The target when it is a path on this site, else None (refuses open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers drop tabs and newlines and read "\" as "/", so "/\t/evil" or "/\evil" leave the site.
    if "\\" in target or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def utc_iso(moment: datetime) -> str:
    """A machine-readable UTC timestamp for <time datetime=...>."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def utc_time(moment: datetime) -> str:
    """A short human-readable UTC time, the same for every reader whatever the server's zone."""
    return moment.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC").lstrip("0")


def _page_globals() -> dict[str, Any]:
    """Expose the signed-in state and the registered endpoints to every template."""
    endpoints: Mapping[str, Any] = current_app.view_functions
    signed_in = False
    if has_request_context():
        signed_in = bool(g.get("user_id") or current_user_id())
    return {"url_endpoints": endpoints, "signed_in": signed_in}


def init_app(app: Flask) -> None:
    """Register the template globals and filters on the app."""
    app.context_processor(_page_globals)
    app.add_template_filter(utc_iso, "utc_iso")
    app.add_template_filter(utc_time, "utc_time")
