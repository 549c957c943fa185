"""Account pages (placeholder until the pages land): login form target."""

from __future__ import annotations

from web.auth import bp


@bp.get("/login")
def login_page() -> str:
    """Sign-in page."""
    return "login"
