"""Flask configuration derived from the shared settings object (never from os.environ)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.settings import Settings, require_web_secrets


def flask_config(settings: Settings) -> dict[str, Any]:
    """Map settings onto the Flask and extension configuration keys (production secrets checked first)."""
    require_web_secrets(settings)
    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.sqlalchemy_url(),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            # Off: web.database pings only connections that sat idle, not one on every checkout.
            "pool_pre_ping": False,
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_max_overflow,
        },
        "JWT_SECRET_KEY": settings.jwt_secret_key,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=settings.jwt_access_token_expires),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(seconds=settings.jwt_refresh_token_expires),
        "JWT_TOKEN_LOCATION": ["headers", "cookies"],
        # Production cookies are HTTPS-only whatever JWT_COOKIE_SECURE says; Lax keeps them off
        # cross-site POSTs while a link from elsewhere still arrives signed in.
        "JWT_COOKIE_SECURE": settings.jwt_cookie_secure or settings.is_production,
        "JWT_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.jwt_cookie_secure or settings.is_production,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        # Forms carry Flask-WTF's CSRF token, checked for every POST page; the API takes
        # headers only, so the cookie double-submit check would only duplicate that.
        "JWT_COOKIE_CSRF_PROTECT": False,
        "JWT_ACCESS_COOKIE_PATH": "/",
        "JWT_REFRESH_COOKIE_PATH": "/",
        "WTF_CSRF_TIME_LIMIT": None,
        # web.sessions checks CSRF on page forms only; the bearer-token API has no cookies to forge.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "JSON_SORT_KEYS": False,
        "MAX_CONTENT_LENGTH": settings.max_request_bytes,
        "TODO_SETTINGS": settings,
    }
