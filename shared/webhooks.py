"""What web and worker agree on about webhooks: the secret format and which addresses may be sent to."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Signing secrets are "whsec_" and base64, as the Standard Webhooks specification writes them.
SECRET_PREFIX = "whsec_"  # noqa: S105  (a format marker, not a secret)


def address_problem(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why the platform refuses to send to this address (its own networks), or None."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        return address_problem(mapped, allow_loopback=allow_loopback)
    if address.is_loopback:
        return None if allow_loopback else "must not point at a loopback address"
    if not address.is_global or address.is_multicast:
        return "must point at a public address (private, link-local and reserved ones are refused)"
    return None
