"""Security headers on every response, and trusting the ingress's X-Forwarded-* only when told to.

The pages load scripts and styles from /static only (no inline code), so the policy needs no
'unsafe-inline'; htmx is configured in base.html not to evaluate code or inject its indicator styles.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.settings import Settings

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000; includeSubDomains"
STATIC_PREFIX = "/static/"


def _secure(response: Response) -> Response:
    """Add the headers; no-store on everything but static files (pages and API hold a user's data)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if not request.path.startswith(STATIC_PREFIX):
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask, settings: Settings) -> None:
    """Trust PROXY_FIX_HOPS proxies' X-Forwarded-For/Proto/Host, and secure every response."""
    hops = settings.proxy_fix_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.after_request(_secure)
