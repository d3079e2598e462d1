"""Who is asking, for the guessing limits (:mod:`server.ratelimit`): a kiosk, an account, or an address.

A client key is a short string the limiter counts failures under:

* ``kiosk:<kiosk_id>`` on kiosk-signed routes, once the signature proved the
  kiosk (:func:`kiosk_client`); nothing there is guessable today;
* ``account:<account_id>`` on logged-in routes (:func:`account_client`; the
  console's accounts, issue 18);
* otherwise the network address (:func:`client_of`): the TCP peer's, or, when
  the peer is one of the configured ``trusted_proxies``, the address that
  proxy put in ``X-Forwarded-For``.  Only a trusted proxy's header is read:
  anyone else could write any address there and never be counted twice.

``X-Forwarded-For`` is read from the right, since each proxy appends the
address it received from: hops that are trusted proxies themselves are
skipped, and the first other address is the client.  An entry that is not an
address stops the walk, and the nearest trusted hop counts as the client
(fail closed: garbage never earns a fresh key per request).

An IPv6 client is counted by its /64, the block one subscriber line gets: one
attacker has 2^64 addresses there, but rarely more than a few /64s.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from fastapi import Request

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_FOR: Final = "x-forwarded-for"
UNKNOWN_PEER: Final = "peer:unknown"  # no address (a Unix socket): every such client shares one key
_MAX_HOPS: Final = 32  # entries of X-Forwarded-For read from the right; further left is never reached
_IPV6_CLIENT_PREFIX: Final = 64


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The reverse proxies whose ``X-Forwarded-For`` is believed: addresses or CIDR blocks.

    Empty by default: a server facing the internet directly must not believe the header.
    """

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """``["10.0.0.1", "192.168.0.0/24", "::1"]`` as networks; ``ValueError`` names a bad entry."""
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"trusted proxy {entry!r} is not an IP address or CIDR block") from None
        return cls(tuple(networks))

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        address = _unmapped(address)
        return any(address.version == net.version and address in net for net in self.networks)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it (``192.0.2.7``, ``192.0.2.7:4711``, ``[2001:db8::1]:443``) or None."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        text = text.partition(":")[0]
    try:
        return _unmapped(ipaddress.ip_address(text))
    except ValueError:
        return None


def address_key(address: IPAddress) -> str:
    """The client key of a network address: ``ip:192.0.2.7``, or an IPv6 client's /64."""
    address = _unmapped(address)
    if isinstance(address, ipaddress.IPv6Address):
        block = ipaddress.IPv6Network((address, _IPV6_CLIENT_PREFIX), strict=False)
        return f"ip:{block}"
    return f"ip:{address}"


def forwarded_client(peer: str | None, forwarded_for: Sequence[str], proxies: TrustedProxies) -> str:
    """The client key for a connection from ``peer`` that carried these ``X-Forwarded-For`` headers."""
    address = parse_address(peer) if peer else None
    if address is None:
        return UNKNOWN_PEER
    if address not in proxies:
        return address_key(address)
    # Several headers are one list, in order (RFC 9110 §5.3); walk it from the right.
    hops = [hop for header in forwarded_for for hop in header.split(",")][-_MAX_HOPS:]
    for hop in reversed(hops):
        forwarded = parse_address(hop)
        if forwarded is None:
            break
        address = forwarded
        if address not in proxies:
            break
    return address_key(address)


def client_of(request: Request, proxies: TrustedProxies) -> str:
    """The client key of an unauthenticated request: its address, as :func:`forwarded_client` finds it."""
    peer = request.client.host if request.client is not None else None
    return forwarded_client(peer, request.headers.getlist(FORWARDED_FOR), proxies)


def kiosk_client(kiosk_id: str) -> str:
    """The client key of a kiosk whose signature the service has checked (not merely claimed in a path)."""
    return f"kiosk:{kiosk_id}"


def account_client(account_id: str) -> str:
    """The client key of a logged-in console account (issue 18)."""
    return f"account:{account_id}"


def _unmapped(address: IPAddress) -> IPAddress:
    """``::ffff:192.0.2.7`` as ``192.0.2.7``: a dual-stack socket shows IPv4 peers that way."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
