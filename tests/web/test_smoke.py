def test_register_login_and_create(client, auth):
    user = auth.register()
    r = client.post(f"/api/{user.user_id}/tasks", json={"title": "  buy milk "}, headers=user.headers)
    assert r.status_code == 201
    assert r.get_json()["title"] == "buy milk"
