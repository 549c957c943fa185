"""Kafka connection options, defined once for every client: the relay, the worker, the tools, the dev stack.

Plain Python (no aiokafka, no Faust import): `client_options` is what any aiokafka client takes, and
streams turns `sasl_login` and `ssl_context` into Faust credentials, so the two sides cannot disagree
on a protocol, a SASL mechanism or a CA file again.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from shared.settings import Settings

# What both aiokafka and Faust assume when SASL is on and no mechanism is named.
DEFAULT_SASL_MECHANISM = "PLAIN"


@dataclass(frozen=True)
class SaslLogin:
    """Who the client logs in as, and how."""

    mechanism: str
    username: str
    password: str


def protocol(settings: Settings) -> str:
    """KAFKA_SECURITY_PROTOCOL, upper-cased (the settings refuse any other than the four Kafka knows)."""
    return settings.kafka_security_protocol.upper()


def sasl_login(settings: Settings) -> SaslLogin | None:
    """The SASL login for SASL_* protocols (PLAIN unless a mechanism is named); None otherwise."""
    if not protocol(settings).startswith("SASL"):
        return None
    mechanism = (settings.kafka_sasl_mechanism or DEFAULT_SASL_MECHANISM).upper()
    return SaslLogin(mechanism, settings.kafka_sasl_username, settings.kafka_sasl_password)


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A verifying TLS context (KAFKA_SSL_CAFILE or the system CAs) for SSL protocols; None otherwise."""
    if not protocol(settings).endswith("SSL"):
        return None
    return ssl.create_default_context(
        purpose=ssl.Purpose.SERVER_AUTH, cafile=settings.kafka_ssl_cafile or None
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection keyword arguments for any aiokafka client (producer, consumer, admin)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": protocol(settings),
    }
    login = sasl_login(settings)
    if login is not None:
        options["sasl_mechanism"] = login.mechanism
        options["sasl_plain_username"] = login.username
        options["sasl_plain_password"] = login.password
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options
