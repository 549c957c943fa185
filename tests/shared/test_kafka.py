"""One Kafka connection config: the relay's producer and the Faust worker connect the same way."""

from __future__ import annotations

import dataclasses
import ssl

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from shared.kafka import client_options
from shared.settings import SettingsError, load_settings
from streams.app import _credentials
from web.outbox.publishers.kafka import producer_options

LOGIN = {"KAFKA_SASL_USERNAME": "doadmin", "KAFKA_SASL_PASSWORD": "s3cret"}
CASES = [
    ({}, "PLAINTEXT", None),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL"}, "SSL", None),
    # No mechanism named: the relay once sent none while the worker assumed PLAIN.
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", **LOGIN}, "SASL_PLAINTEXT", "PLAIN"),
    (
        {"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", **LOGIN},
        "SASL_SSL",
        "SCRAM-SHA-256",
    ),
]


def connection(options: dict) -> dict:
    """The parts of client options that decide how a client connects, the TLS context as a flag."""
    keys = ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
    found = {key: options[key] for key in keys if options.get(key) is not None}
    found["tls"] = isinstance(options.get("ssl_context"), ssl.SSLContext)
    return found


@pytest.mark.parametrize(("env", "protocol", "mechanism"), CASES)
def test_relay_and_worker_connect_alike(env, protocol, mechanism):
    settings = load_settings(env)
    relay = connection(producer_options(settings))
    worker = connection(dict(credentials_to_aiokafka_auth(_credentials(settings))))
    assert relay == worker
    assert relay["security_protocol"] == protocol
    assert relay.get("sasl_mechanism") == mechanism
    assert relay["tls"] is protocol.endswith("SSL")
    if mechanism:
        assert (relay["sasl_plain_username"], relay["sasl_plain_password"]) == ("doadmin", "s3cret")


def test_tls_verifies_the_broker_with_the_configured_ca(tmp_path):
    context = client_options(load_settings({"KAFKA_SECURITY_PROTOCOL": "SSL"}))["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    missing = load_settings(
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(tmp_path / "none.pem")}
    )
    with pytest.raises(FileNotFoundError):
        client_options(missing)


def test_the_relay_adds_only_producer_options_to_the_shared_connection():
    settings = dataclasses.replace(load_settings({}), kafka_bootstrap_servers="k1:9092,k2:9092")
    shared = client_options(settings)
    relay = producer_options(settings)
    assert {key: relay[key] for key in shared} == shared
    assert set(relay) - set(shared) == {
        "client_id", "acks", "enable_idempotence", "request_timeout_ms", "partitioner",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME"),
    ],
)
def test_settings_refuse_a_connection_no_client_could_make(env, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(env)
