"""PostgreSQL unreachable: the API answers 503 with Retry-After in its error shape, pages a 503 page."""

from __future__ import annotations

import dataclasses

from flask_jwt_extended import create_access_token

from devstack.kafka import free_port
from shared.settings import Settings
from web import create_app


def test_an_unreachable_database_is_a_503_not_a_500(settings: Settings) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/todo"
    app = create_app({"TESTING": True}, settings=dataclasses.replace(settings, database_url=nowhere))
    client = app.test_client()
    with app.app_context():
        token = create_access_token(identity="someone")

    api = client.get("/api/someone/tasks", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 503
    assert api.headers["Retry-After"] == "1"
    assert api.get_json()["error"]["code"] == "database_unavailable"

    client.set_cookie("access_token_cookie", token)
    page = client.get("/")
    assert page.status_code == 503
    assert "The database is unavailable for a moment" in page.get_data(as_text=True)
