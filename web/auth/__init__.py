"""Accounts: registration, login, token refresh (API) and their pages."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from web.auth import pages, routes  # noqa: E402, F401  (registers the views on bp)
