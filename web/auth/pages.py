"""Account pages: register, sign in, sign out, verify the email address and the notification settings."""

from __future__ import annotations

from flask import Response, current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_jwt_extended import decode_token, unset_jwt_cookies
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from werkzeug.exceptions import BadRequest

from web.auth import bp
from web.auth.schemas import MIN_PASSWORD, parse_credentials
from web.auth.services import EmailTaken, authenticate, get_user, register_user, set_email_notifications
from web.auth.throttle import TooManyAttempts, throttle
from web.auth.tokens import revoke_session
from web.auth.verification import confirm, send_verification
from web.extensions import db
from web.sessions import login_cookies, page_login_required
from web.templating import local_path

_BAD_LINK = BadRequest("This link is not valid or has expired.")


def _signed_in_redirect(user_id: str, target: str | None) -> Response:
    """Send a freshly signed-in browser on, with its session cookies."""
    response = make_response(redirect(local_path(target) or url_for("tasks.index"), code=303))
    return login_cookies(response, user_id)


def _form(template: str, status: int, **context: object) -> tuple[str, int]:
    """Render an account form, keeping what was typed (never the password)."""
    context.setdefault("errors", {})
    context.setdefault("email", request.form.get("email", ""))
    context.setdefault("next", local_path(request.values.get("next")) or "")
    return render_template(template, min_password=MIN_PASSWORD, **context), status


def _throttled(action: str, template: str) -> ResponseReturnValue | None:
    """The form again with a 429 and Retry-After when this client or account is over its limit."""
    try:
        throttle(
            session=db.session, action=action, account=request.form.get("email", "").strip().lower() or None
        )
    except TooManyAttempts as limited:
        body, status = _form(
            template, 429, form_error=f"Too many attempts. Try again in {limited.retry_after} seconds."
        )
        return body, status, limited.headers
    return None


@bp.route("/register", methods=["GET", "POST"])
def register_page() -> ResponseReturnValue:
    """Create an account and sign in; 422 for bad input, 409 when the email is taken."""
    if request.method == "GET":
        return _form("auth/register.html", 200)
    if limited := _throttled("register", "auth/register.html"):
        return limited
    credentials, errors = parse_credentials(request.form.to_dict(), check_strength=True)
    if credentials is None:
        return _form("auth/register.html", 422, errors=errors)
    try:
        user = register_user(session=db.session, email=credentials.email, password=credentials.password)
    except EmailTaken:
        return _form("auth/register.html", 409, errors={"email": "an account with this email already exists"})
    if send_verification(user):
        flash(f"We sent a link to {user.email}: follow it to get completion emails.", "success")
    flash("Welcome! Your account is ready.", "success")
    return _signed_in_redirect(user.id, request.form.get("next"))


@bp.route("/login", methods=["GET", "POST"])
def login_page() -> ResponseReturnValue:
    """Sign in with email and password; 422 for bad input, 401 for wrong credentials."""
    if request.method == "GET":
        return _form("auth/login.html", 200)
    if limited := _throttled("login", "auth/login.html"):
        return limited
    credentials, errors = parse_credentials(request.form.to_dict(), check_strength=False)
    if credentials is None:
        return _form("auth/login.html", 422, errors=errors)
    user = authenticate(session=db.session, email=credentials.email, password=credentials.password)
    if user is None:
        return _form("auth/login.html", 401, form_error="Wrong email or password.")
    flash("Signed in.", "success")
    return _signed_in_redirect(user.id, request.form.get("next"))


def _revoke_cookies() -> None:
    """Revoke the sessions the browser's cookies belong to (even expired ones, whose family may live on)."""
    for name in (current_app.config["JWT_ACCESS_COOKIE_NAME"], current_app.config["JWT_REFRESH_COOKIE_NAME"]):
        raw = request.cookies.get(name)
        if not raw:
            continue
        try:
            payload = decode_token(raw, allow_expired=True)
        except (PyJWTError, JWTExtendedException):  # a forged or mangled cookie has no session to revoke
            continue
        revoke_session(session=db.session, payload=payload)


@bp.post("/logout")
def logout() -> Response:
    """Revoke the session, forget its cookies and go back to the sign-in page."""
    _revoke_cookies()
    response = make_response(redirect(url_for("auth.login_page"), code=303))
    unset_jwt_cookies(response)
    flash("Signed out.", "success")
    return response


@bp.get("/verify-email/<token>")
def verify_email(token: str) -> ResponseReturnValue:
    """Follow the link mailed at registration: the address is verified, completion mails can go."""
    user = confirm(session=db.session, token=token)
    if user is None:
        return render_template("errors/error.html", status=400, error=_BAD_LINK), 400
    flash(f"{user.email} is verified.", "success")
    return redirect(url_for("tasks.index"), code=303)


@bp.route("/settings", methods=["GET", "POST"])
@page_login_required
def settings_page() -> ResponseReturnValue:
    """Show the account, and turn completion emails on or off."""
    if request.method == "POST":
        enabled = request.form.get("email_notifications") is not None
        set_email_notifications(session=db.session, user_id=g.user_id, enabled=enabled)
        flash(f"Completion emails are {'on' if enabled else 'off'}.", "success")
        return redirect(url_for("auth.settings_page"), code=303)
    user = get_user(session=db.session, user_id=g.user_id)
    if user is None:
        return logout()
    settings = current_app.config["TODO_SETTINGS"]
    unverified = settings.requires_verified_email and user.email_verified_at is None
    return render_template("auth/settings.html", user=user, unverified=unverified)


@bp.post("/settings/verify-email")
@page_login_required
def resend_verification() -> ResponseReturnValue:
    """Mail the verification link again (throttled like a sign-in, so it cannot flood an inbox)."""
    user = get_user(session=db.session, user_id=g.user_id)
    if user is None:
        return logout()
    try:
        throttle(session=db.session, action="verify", account=user.id)
    except TooManyAttempts as limited:
        flash(f"Too many links asked for. Try again in {limited.retry_after} seconds.", "error")
        return redirect(url_for("auth.settings_page"), code=303)
    sent = send_verification(user)
    flash(
        f"We sent a new link to {user.email}." if sent else "The link could not be sent just now.", "success"
    )
    return redirect(url_for("auth.settings_page"), code=303)
