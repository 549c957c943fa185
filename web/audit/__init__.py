"""The audit trail: the API under /api/<user_id>/audit, task history, and the /audit pages."""

from flask import Blueprint, Flask

bp = Blueprint("audit", __name__)

from web.audit import pages, routes  # noqa: E402, F401  (registers the views on bp)


def init_app(app: Flask) -> None:
    """Register the audit commands (`flask --app web audit verify`, `flask --app web db roles`)."""
    from web.audit.commands import audit_cli
    from web.roles import register_roles_command

    app.cli.add_command(audit_cli)
    register_roles_command()
