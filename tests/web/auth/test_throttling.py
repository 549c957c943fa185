"""Login, registration and refresh are limited per client and per account in PostgreSQL; hashing bounded."""

from __future__ import annotations

import threading
import time

import pytest

from tests.web.test_headers import app_client
from tests.web.test_pages import page_token
from web.auth import services

PASSWORD = "correct horse battery"


@pytest.fixture
def limited(settings):
    """A client of an app allowing 4 attempts per client and 2 per account per 60 s window."""
    with app_client(
        settings,
        auth_rate_limit_per_client=4,
        auth_rate_limit_per_account=2,
        auth_rate_limit_window_seconds=60,
    ) as client:
        yield client


def login(client, email, password="wrong password", **kwargs):
    return client.post("/api/auth/login", json={"email": email, "password": password}, **kwargs)


def assert_throttled(response):
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_an_account_gets_its_attempts_then_a_429_with_retry_after(limited):
    assert [login(limited, "ada@example.com").status_code for _ in range(2)] == [401, 401]
    assert_throttled(login(limited, "ADA@example.com", PASSWORD))  # the right password does not help
    assert login(limited, "bob@example.com").status_code == 401  # another account is not held back


def test_a_client_trying_many_accounts_is_limited(limited):
    statuses = [login(limited, f"user{n}@example.com").status_code for n in range(4)]
    assert statuses == [401] * 4
    assert_throttled(login(limited, "user9@example.com"))
    other_client = login(limited, "user9@example.com", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other_client.status_code == 401


def test_registration_is_limited_per_client(limited):
    for n in range(4):
        body = {"email": f"new{n}@example.com", "password": PASSWORD}
        assert limited.post("/api/auth/register", json=body).status_code == 201
    assert_throttled(
        limited.post("/api/auth/register", json={"email": "x@example.com", "password": PASSWORD})
    )


def test_refresh_is_limited_per_account(limited, settings):
    limited.post("/api/auth/register", json={"email": "r@example.com", "password": PASSWORD})
    token = login(limited, "r@example.com", PASSWORD).get_json()["refresh_token"]
    for _ in range(2):
        response = limited.post("/api/auth/refresh", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        token = response.get_json()["refresh_token"]
    assert_throttled(limited.post("/api/auth/refresh", headers={"Authorization": f"Bearer {token}"}))


def test_two_app_processes_share_the_counts(limited, settings):
    login(limited, "ada@example.com")
    with app_client(settings, auth_rate_limit_per_account=2) as second_worker:
        login(second_worker, "ada@example.com")
        assert_throttled(login(second_worker, "ada@example.com"))


def test_the_window_ends_and_attempts_are_allowed_again(settings):
    with app_client(settings, auth_rate_limit_per_account=1, auth_rate_limit_window_seconds=4) as client:
        login(client, "ada@example.com")
        assert_throttled(login(client, "ada@example.com"))
        time.sleep(4.2)
        assert login(client, "ada@example.com").status_code == 401


def test_behind_the_ingress_each_forwarded_client_counts_alone(settings):
    with app_client(settings, auth_rate_limit_per_client=1, proxy_fix_hops=1) as client:
        first = {"X-Forwarded-For": "203.0.113.1"}
        assert login(client, "a@example.com", headers=first).status_code == 401
        assert_throttled(login(client, "b@example.com", headers=first))
        assert login(client, "c@example.com", headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 401


def test_the_sign_in_page_says_when_to_try_again(settings):
    with app_client(settings, auth_rate_limit_per_account=1) as client:
        data = {"csrf_token": page_token(client), "email": "ada@example.com", "password": "wrong password"}
        assert client.post("/login", data=data).status_code == 401
        response = client.post("/login", data=data)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "Too many attempts" in response.get_data(as_text=True)


def test_hashing_beyond_the_concurrency_bound_waits_then_gets_a_503(settings, monkeypatch):
    monkeypatch.setattr(services, "HASH_WAIT_SECONDS", 0.2)
    with app_client(settings, password_hash_concurrency=1) as client:
        holding, release = threading.Event(), threading.Event()

        def hold_the_only_slot():
            with client.application.app_context(), services._hash_slot():
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=hold_the_only_slot)
        holder.start()
        holding.wait(5)
        try:
            response = login(client, "ada@example.com")
        finally:
            release.set()
            holder.join()
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert login(client, "ada@example.com").status_code == 401  # the slot is free again
