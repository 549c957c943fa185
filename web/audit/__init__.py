"""The audit trail: the API under /api/<user_id>/audit, task history, and the /audit pages."""

from flask import Blueprint

bp = Blueprint("audit", __name__)

from web.audit import pages, routes  # noqa: E402, F401  (registers the views on bp)
