"""Browser sessions: JWTs in HttpOnly cookies, CSRF on every form, silent token renewal."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_jwt_extended import (
    create_access_token,
    get_jwt,
    get_jwt_identity,
    set_access_cookies,
    set_refresh_cookies,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import NoAuthorizationError
from jwt import ExpiredSignatureError
from werkzeug.wrappers import Response as BaseResponse

from shared.models import User
from web.extensions import csrf, db, jwt

F = TypeVar("F", bound=Callable[..., Any])
ResponseT = TypeVar("ResponseT", bound=BaseResponse)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def login_cookies(response: ResponseT, user_id: str) -> ResponseT:
    """Put a fresh access and refresh token pair on the response as HttpOnly cookies."""
    # flask-jwt-extended annotates Flask's Response, but only uses what redirects have too.
    from web.auth.tokens import issue_pair  # web.auth imports this module

    cookie_target = cast(Response, response)
    pair = issue_pair(user_id=user_id)
    set_access_cookies(cookie_target, pair["access_token"])
    set_refresh_cookies(cookie_target, pair["refresh_token"])
    return response


def page_login_required(view: F) -> F:
    """Require a signed-in browser; an expired access cookie is renewed from the refresh cookie."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.user_id = _cookie_identity()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_user_id() -> str | None:
    """The signed-in user's id on a page request, or None for a visitor."""
    try:
        return _cookie_identity()
    except Exception:  # any token problem simply means "not signed in" here
        return None


def _cookie_identity() -> str:
    """The user id from the access cookie, falling back to the refresh cookie."""
    try:
        verify_jwt_in_request(locations=["cookies"])
    except (ExpiredSignatureError, NoAuthorizationError):
        verify_jwt_in_request(locations=["cookies"], refresh=True)
        # The new access cookie joins the refresh cookie's family, so sign-out still revokes it.
        # The refresh cookie is not rotated here: a page fires several requests at once (htmx), and
        # all but one would look like reuse; it is HttpOnly, so page scripts cannot copy it.
        g.renew_access_cookie = get_jwt().get("fam") or True
    return str(get_jwt_identity())


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, without its signer and cookie work when a request has no session.

    A bearer-token API request carries no session cookie and never touches `session`, yet Flask built
    the signing serializer to open it and read the cookie settings to save it (~2% of a create's CPU).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when there is no cookie to read, else Flask's."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Nothing to do for an empty session nobody read or changed, else Flask's."""
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)


def _protect_forms() -> None:
    """Check the CSRF token on every unsafe page request (the API uses bearer tokens)."""
    if request.method in UNSAFE_METHODS and not request.path.startswith("/api/"):
        csrf.protect()


def _renew_access_cookie(response: Response) -> Response:
    """Issue a new access cookie when this request was let in by the refresh cookie."""
    family = g.get("renew_access_cookie")
    if family and g.get("user_id"):
        claims = {"fam": family} if isinstance(family, str) else {}
        set_access_cookies(response, create_access_token(identity=g.user_id, additional_claims=claims))
    return response


def _account_of(_header: dict[str, Any], payload: dict[str, Any]) -> User | None:
    """The token's account; a validly signed token whose account is gone is refused (401, not a 500)."""
    from web.auth.services import get_user  # web.auth imports this module

    # The denylist check just before read the account in the same round trip (_revoked); only a
    # token checked some other way costs a lookup of its own.
    looked_up = g.pop("token_account", None)
    if looked_up is not None and looked_up[0] == payload.get("jti"):
        return cast(User | None, looked_up[1])
    return get_user(session=db.session, user_id=str(payload["sub"]))


def _revoked(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Whether the token (or its session) was signed out or its refresh token reused."""
    from web.auth.tokens import is_revoked, token_standing  # web.auth imports this module

    standing = token_standing(session=db.session, payload=payload)
    g.token_account = (payload.get("jti"), standing.user)
    return is_revoked(session=db.session, payload=payload, standing=standing)


def init_app(app: Flask) -> None:
    """Install the session cookie, the CSRF check, the cookie renewal, the denylist and the account lookup."""
    app.session_interface = CookieSessions()
    app.before_request(_protect_forms)
    app.after_request(_renew_access_cookie)
    jwt.user_lookup_loader(_account_of)
    jwt.token_in_blocklist_loader(_revoked)
