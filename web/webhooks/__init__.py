"""Webhooks: users' endpoints for signed task events, through the API and the settings page."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__)

from web.webhooks import pages, routes  # noqa: E402, F401  (registers the views on bp)
