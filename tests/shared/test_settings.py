"""Settings come from the environment in one place, with safe production rules."""

import pytest

from shared.settings import DEV_JWT_SECRET, SettingsError, load_settings, require_web_secrets

STRONG = "x" * 40


def test_defaults_are_for_development():
    settings = load_settings({})
    assert settings.app_env == "development"
    assert settings.jwt_secret_key == DEV_JWT_SECRET
    assert settings.task_events_topic == "task-events"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"


def test_values_are_converted_to_their_types():
    settings = load_settings({"PORT": "9000", "SMTP_STARTTLS": "yes", "DAPR_TIMEOUT_SECONDS": "2.5"})
    assert (settings.port, settings.smtp_starttls, settings.dapr_timeout_seconds) == (9000, True, 2.5)


@pytest.mark.parametrize(
    ("name", "value"), [("PORT", "eighty"), ("SMTP_STARTTLS", "maybe"), ("APP_ENV", "staging")]
)
def test_malformed_values_are_refused_with_the_variable_named(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def _web_settings(env: dict[str, str]) -> None:
    """Load settings as the web app does: the signing secrets are checked too."""
    require_web_secrets(load_settings(env))


def test_production_refuses_development_secrets():
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        _web_settings({"APP_ENV": "production", "DATABASE_URL": "postgresql://db/x", "SECRET_KEY": STRONG})
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        _web_settings(
            {"APP_ENV": "production", "DATABASE_URL": "postgresql://db/x", "JWT_SECRET_KEY": STRONG}
        )
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        _web_settings(
            {
                "APP_ENV": "production",
                "DATABASE_URL": "postgresql://db/x",
                "JWT_SECRET_KEY": "short",
                "SECRET_KEY": STRONG,
            }
        )


def test_the_worker_runs_in_production_without_the_web_apps_secrets():
    settings = load_settings({"APP_ENV": "production", "DATABASE_URL": "postgresql://db/x"})
    assert settings.is_production
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        require_web_secrets(settings)


def test_a_production_app_refuses_development_secrets_when_it_is_built():
    from web.config import flask_config

    with pytest.raises(SettingsError, match="SECRET_KEY"):
        flask_config(load_settings({"APP_ENV": "production", "DATABASE_URL": "postgresql://db/x"}))


def test_production_accepts_real_secrets():
    settings = load_settings(
        {
            "APP_ENV": "production",
            "DATABASE_URL": "postgresql://db/x",
            "JWT_SECRET_KEY": STRONG,
            "SECRET_KEY": STRONG,
        }
    )
    assert settings.is_production
    assert settings.idempotent_producer is True


def test_publisher_defaults_to_dapr_when_a_sidecar_announces_itself():
    assert load_settings({}).publisher == "kafka"
    assert load_settings({"DAPR_GRPC_PORT": "50001"}).publisher == "dapr"
    assert load_settings({"DAPR_HTTP_PORT": "3500"}).publisher == "dapr"
    assert load_settings({"DAPR_GRPC_PORT": "50001", "EVENT_PUBLISHER": "kafka"}).publisher == "kafka"


def test_database_url_gets_the_psycopg_driver():
    assert (
        load_settings({"DATABASE_URL": "postgres://u@h/db"}).sqlalchemy_url() == "postgresql+psycopg://u@h/db"
    )
    assert (
        load_settings({"DATABASE_URL": "postgresql://u@h/db"}).sqlalchemy_url()
        == "postgresql+psycopg://u@h/db"
    )


def test_the_worker_logs_in_with_its_own_url_when_one_is_set() -> None:
    owner = {"DATABASE_URL": "postgresql://owner:pw@db/todo"}
    assert load_settings(owner).for_worker().database_url == "postgresql://owner:pw@db/todo"
    worker = load_settings({**owner, "WORKER_DATABASE_URL": "postgresql://worker:pw2@db/todo"}).for_worker()
    assert worker.database_url == "postgresql://worker:pw2@db/todo"
    assert worker.sqlalchemy_url() == "postgresql+psycopg://worker:pw2@db/todo"


@pytest.mark.parametrize("app_env", ["development", "test"])
def test_development_secrets_are_refused_against_a_remote_database_whatever_app_env_says(app_env):
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        _web_settings({"APP_ENV": app_env, "DATABASE_URL": "postgresql://todo@db.internal:5432/todo"})


@pytest.mark.parametrize(
    "url",
    ["", "postgresql://u@127.0.0.1:5432/x", "postgresql://u@localhost/x", "postgresql://u@[::1]/x",
     "postgresql://u@/x?host=/var/run/postgresql"],
)  # fmt: skip
def test_development_secrets_are_fine_with_a_database_on_this_machine(url):
    _web_settings({"APP_ENV": "development", "DATABASE_URL": url})
