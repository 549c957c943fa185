"""Logout revokes the session, refresh tokens rotate, reuse revokes the family; the denylist is pruned."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
from sqlalchemy import event, insert, select

from tests.web.test_pages import set_cookie_headers, sign_up
from web.auth.models import RevokedToken
from web.extensions import db

ACCESS, REFRESH = "access_token_cookie", "refresh_token_cookie"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def tasks_status(client, user, token):
    return client.get(f"/api/{user.user_id}/tasks", headers=bearer(token)).status_code


def refresh(client, token):
    return client.post("/api/auth/refresh", headers=bearer(token))


def test_logout_with_the_access_token_revokes_it_and_its_refresh_token(client, auth):
    user = auth.register()
    assert client.post("/api/auth/logout", headers=user.headers).status_code == 204
    response = client.get(f"/api/{user.user_id}/tasks", headers=user.headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_revoked"
    assert refresh(client, user.refresh_token).status_code == 401


def test_logout_with_the_refresh_token_revokes_its_access_token(client, auth):
    user = auth.register()
    assert client.post("/api/auth/logout", headers=bearer(user.refresh_token)).status_code == 204
    assert tasks_status(client, user, user.access_token) == 401


def test_logout_ends_only_that_session(client, auth):
    user = auth.register()
    other = auth.login(user.email, user.password)
    client.post("/api/auth/logout", headers=user.headers)
    assert tasks_status(client, user, other.access_token) == 200
    assert refresh(client, other.refresh_token).status_code == 200


def test_logout_needs_a_token(client):
    response = client.post("/api/auth/logout")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_token"


def test_refresh_rotates_and_the_new_pair_works(client, auth, app):
    user = auth.register()
    body = refresh(client, user.refresh_token).get_json()
    assert body["refresh_token"] != user.refresh_token
    assert tasks_status(client, user, body["access_token"]) == 200
    old, new = (
        pyjwt.decode(t, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
        for t in (user.refresh_token, body["refresh_token"])
    )
    assert old["fam"] == new["fam"]
    assert refresh(client, body["refresh_token"]).status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_family(client, auth):
    user = auth.register()
    rotated = refresh(client, user.refresh_token).get_json()
    reused = refresh(client, user.refresh_token)
    assert reused.status_code == 401
    assert reused.get_json()["error"]["code"] == "token_revoked"
    assert refresh(client, rotated["refresh_token"]).status_code == 401
    assert tasks_status(client, user, rotated["access_token"]) == 401
    assert tasks_status(client, user, user.access_token) == 401


def test_two_refreshes_racing_with_one_token_cannot_both_win(app, auth):
    user = auth.register()

    def attempt(_):
        return refresh(app.test_client(), user.refresh_token).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(attempt, range(4)))
    assert statuses.count(200) <= 1
    assert statuses.count(401) >= 3


def test_denylist_rows_expire_with_their_tokens_and_are_pruned(client, auth, engine, app):
    with engine.begin() as conn:
        conn.execute(
            insert(RevokedToken).values(
                token_id="stale", reason="logout", expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    user = auth.register()
    client.post("/api/auth/logout", headers=user.headers)
    claims = pyjwt.decode(user.access_token, app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    with engine.connect() as conn:
        rows = dict(conn.execute(select(RevokedToken.token_id, RevokedToken.expires_at)).all())
    assert "stale" not in rows
    assert rows[claims["jti"]] == datetime.fromtimestamp(claims["exp"], tz=UTC)
    family_expiry = rows[f"family:{claims['fam']}"]
    assert family_expiry >= datetime.now(UTC) + app.config["JWT_REFRESH_TOKEN_EXPIRES"] - timedelta(minutes=1)


def test_page_sign_out_revokes_the_cookies_it_clears(client, app):
    sign_up(client)
    kept = {name: client.get_cookie(name).value for name in (ACCESS, REFRESH)}
    from tests.web.test_pages import page_token

    signed_out = client.post("/logout", data={"csrf_token": page_token(client, "/settings")})
    assert signed_out.status_code == 303
    cleared = set_cookie_headers(signed_out)
    assert ACCESS in cleared
    for name, value in kept.items():
        client.set_cookie(name, value)
    response = client.get("/settings")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    claims = pyjwt.decode(kept[ACCESS], app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert client.get(f"/api/{claims['sub']}/tasks", headers=bearer(kept[ACCESS])).status_code == 401


def test_a_renewed_page_access_cookie_stays_in_the_session_family(client, app):
    sign_up(client)
    refresh_claims = pyjwt.decode(
        client.get_cookie(REFRESH).value, app.config["JWT_SECRET_KEY"], algorithms=["HS256"]
    )
    client.delete_cookie(ACCESS)
    assert client.get("/settings").status_code == 200  # renewed from the refresh cookie
    renewed = pyjwt.decode(
        client.get_cookie(ACCESS).value, app.config["JWT_SECRET_KEY"], algorithms=["HS256"]
    )
    assert renewed["fam"] == refresh_claims["fam"]


def test_a_request_reads_the_denylist_and_its_account_in_one_statement(client, auth, app):
    user = auth.register()
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert tasks_status(client, user, user.access_token) == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    reads = [s for s in statements if "revoked_tokens" in s or "FROM users" in s or "JOIN users" in s]
    assert len(reads) == 1, statements


def test_a_revoked_token_whose_account_is_gone_is_still_refused_as_revoked(client, auth, engine):
    from shared.models import User

    user = auth.register()
    client.post("/api/auth/logout", headers=user.headers)
    with engine.begin() as conn:
        conn.execute(User.__table__.delete().where(User.id == user.user_id))
    response = client.get(f"/api/{user.user_id}/tasks", headers=user.headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_revoked"
