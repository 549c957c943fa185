"""Tasks: the JSON API under /api/<user_id>/tasks and the task pages."""

from flask import Blueprint

bp = Blueprint("tasks", __name__)

from web.tasks import pages, routes  # noqa: E402, F401  (registers the views on bp)
