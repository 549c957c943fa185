"""The OpenAPI 3.1 document of the JSON API, built from the app's routes and the schemas it validates with."""

from flask import Blueprint

bp = Blueprint("openapi", __name__)

from web.openapi import routes  # noqa: E402, F401  (registers the view on bp)
