"""One webhook POST that cannot be turned against the platform.

Only http(s); the host is resolved once, every address it resolves to must be public (loopback only
when WEBHOOK_ALLOW_LOOPBACK is on), and the request goes to the address that was checked (the Host
header and the TLS server name stay the original host, so certificates still verify): a DNS answer
that changes between the check and the connection cannot redirect it. No redirects are followed, the
whole exchange has a timeout, and at most WEBHOOK_MAX_RESPONSE_BYTES of the answer are read.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from shared.settings import Settings
from shared.webhooks import address_problem

RETRYABLE_STATUSES = (408, 429)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: delivered, worth retrying, or final."""

    delivered: bool
    retryable: bool
    status: int | None = None
    error: str | None = None


class Refused(Exception):
    """The endpoint's URL or address is one the platform will not send to."""


def pinned_url(url: str, *, allow_loopback: bool) -> tuple[str, str, str]:
    """The URL rewritten to a checked address, with the Host header and TLS name to send."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("only http:// and https:// URLs with a host are delivered to")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if problem := address_problem(address, allow_loopback=allow_loopback):
            raise Refused(f"{parts.hostname} resolves to {address}, which {problem}")
    chosen = addresses[0]
    netloc = f"[{chosen}]:{port}" if chosen.version == 6 else f"{chosen}:{port}"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host, parts.hostname


def classify(status: int) -> Outcome:
    """2xx delivered; 5xx, 408 and 429 retried; any other answer (a redirect, a 4xx) is final."""
    if 200 <= status < 300:
        return Outcome(delivered=True, retryable=False, status=status)
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    return Outcome(delivered=False, retryable=retryable, status=status, error=f"HTTP {status}")


def post(
    *, client: httpx.Client, url: str, body: bytes, headers: dict[str, str], settings: Settings
) -> Outcome:
    """POST a signed body once and say what came of it (never raises for the endpoint's faults)."""
    try:
        target, host, server_name = pinned_url(url, allow_loopback=settings.webhook_allow_loopback)
    except Refused as exc:
        return Outcome(delivered=False, retryable=False, error=str(exc))
    request = client.build_request(
        "POST",
        target,
        content=body,
        headers={**headers, "host": host},
        extensions={"sni_hostname": server_name},
    )
    try:
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > settings.webhook_max_response_bytes:
                    break
        finally:
            response.close()
    except httpx.TimeoutException:
        return Outcome(delivered=False, retryable=True, error="timed out")
    except httpx.HTTPError as exc:
        return Outcome(delivered=False, retryable=True, error=f"{type(exc).__name__}: {exc}"[:500])
    return classify(response.status_code)
