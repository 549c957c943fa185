"""STARTTLS to the mail server verifies its certificate and name against a real aiosmtpd TLS server."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from devstack.kafka import free_port
from devstack.mailsink import SaveToDirectory
from shared.events import new_event
from shared.mail import send_message
from shared.settings import load_settings
from streams.notifications.mailer import build_completion_message, is_transient_mail_error

EVENT = new_event(event_type="completed", user_id="u", task_id=1, title="T", description="", completed=True)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name "localhost" only (not for 127.0.0.1)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_sink(certificate: tuple[Path, Path], tmp_path: Path) -> Iterator[tuple[int, SaveToDirectory]]:
    """An SMTP server that requires STARTTLS before it takes mail."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    handler = SaveToDirectory(tmp_path / "mail")
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    yield port, handler
    controller.stop()


def _send(port: int, host: str, **env: str) -> None:
    settings = load_settings({"SMTP_HOST": host, "SMTP_PORT": str(port), "SMTP_STARTTLS": "true", **env})
    message = build_completion_message(event=EVENT, recipient="a@example.com", mail_from="x@example.com")
    send_message(message=message, settings=settings)


def test_an_untrusted_certificate_is_refused_and_nothing_is_sent(tls_sink) -> None:
    port, handler = tls_sink
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        _send(port, "localhost")
    assert handler.messages() == []
    assert is_transient_mail_error(refused.value)  # a misconfiguration is retried, never the mail dropped


def test_a_certificate_for_another_name_is_refused(tls_sink, certificate) -> None:
    port, handler = tls_sink
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|match"):
        _send(port, "127.0.0.1", SMTP_SSL_CAFILE=str(certificate[0]))
    assert handler.messages() == []


def test_a_trusted_certificate_for_the_name_delivers(tls_sink, certificate) -> None:
    port, handler = tls_sink
    _send(port, "localhost", SMTP_SSL_CAFILE=str(certificate[0]))
    assert len(handler.messages()) == 1
