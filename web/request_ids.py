"""A request id per request: taken from X-Request-ID or made up, echoed back, stamped on its log lines."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from shared.logs import request_id_var

HEADER = "X-Request-ID"
# What we accept from a client or proxy: a short token, so a forged header cannot inject log lines.
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def init_app(app: Flask) -> None:
    """Bind the id before each request, echo it in the response, unbind it afterwards."""
    app.before_request(_bind)
    app.after_request(_echo)
    app.teardown_request(_unbind)


def incoming_request_id(value: str | None) -> str:
    """The caller's id when it is well formed, else a new one."""
    if value and _ACCEPTED.match(value):
        return value
    return uuid.uuid4().hex


def _bind() -> None:
    """Remember the request's id for the log lines it produces."""
    g.request_id = incoming_request_id(request.headers.get(HEADER))
    g.request_id_token = request_id_var.set(g.request_id)


def _echo(response: Response) -> Response:
    """Send the id back, so a client can quote it and a proxy's access log can carry it."""
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response


def _unbind(_error: BaseException | None) -> None:
    """Forget the id once the request is over (the thread serves other requests next)."""
    token = g.pop("request_id_token", None)
    if token is not None:
        request_id_var.reset(token)
