"""Where a webhook may be sent: public addresses only, checked after DNS resolution (SSRF guard).

A URL's host is resolved and every address it resolves to is checked, at subscription time, before
every delivery attempt and on every redirect; the request then goes to the checked address itself
(the name is kept for the Host header and TLS), so DNS cannot answer differently between the check
and the connection. Loopback, private, link-local, shared, multicast, reserved and unspecified
addresses are refused, whatever their spelling (`127.1`, `0x7f000001`, `[::1]`, `localhost`,
`::ffff:127.0.0.1`), unless they lie in a network the operator allows (`webhook_allowed_networks`,
e.g. `10.20.0.0/16` for an intranet receiver).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "Networks",
    "Target",
    "UnsafeTargetError",
    "check_address",
    "networks",
    "resolve_target",
    "resolve_target_sync",
]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def networks(cidrs: Iterable[str]) -> Networks:
    """The operator's allowed networks, parsed (a bad CIDR raises ValueError)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


class UnsafeTargetError(ValueError):
    """The URL may not be sent to: a bad scheme, or a host that resolves to a forbidden address."""


@dataclass(frozen=True, slots=True)
class Target:
    """A URL with its host replaced by a checked address; `host` and `sni` keep the name."""

    url: str
    host: str
    sni: str | None


def check_address(address: str, *, allowed: Networks = ()) -> None:
    """Raise unless `address` is a public unicast address or lies in an allowed network."""
    ip: _Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return
    kind = next(
        (
            name
            for name, flag in (
                ("loopback", ip.is_loopback),
                ("link-local", ip.is_link_local),
                ("unspecified", ip.is_unspecified),
                ("multicast", ip.is_multicast),
                ("private", ip.is_private),
                ("reserved", ip.is_reserved),
                ("not globally routable", not ip.is_global),
            )
            if flag
        ),
        None,
    )
    if kind is not None:
        raise UnsafeTargetError(f"resolves to {ip}, a {kind} address; webhooks go to public addresses only")


def _split(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetError(f"webhook URL must be http(s)://host/..., got {url[:200]!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTargetError(f"webhook URL has an invalid port: {url[:200]!r}") from None
    return parts.scheme, parts.hostname, port


def _target(url: str, addresses: list[str], allowed: Networks) -> Target:
    if not addresses:
        raise UnsafeTargetError(f"{urlsplit(url).hostname} resolves to no address")
    for address in addresses:  # every address: a name with one public and one private record is refused
        check_address(address, allowed=allowed)
    parts = urlsplit(url)
    chosen = addresses[0].split("%", 1)[0]
    literal = f"[{chosen}]" if ":" in chosen else chosen
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host = parts.netloc.rsplit("@", 1)[-1]
    sni = parts.hostname if parts.scheme == "https" else None
    return Target(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host, sni)


def _addresses(infos: list[tuple[object, ...]]) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # type: ignore[index]


async def resolve_target(url: str, *, allowed: Networks) -> Target:
    """Resolve and check `url` for one delivery attempt (or one redirect hop)."""
    _, hostname, port = _split(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTargetError(f"cannot resolve {hostname}: {exc}") from None
    return _target(url, _addresses(list(infos)), allowed)


def resolve_target_sync(url: str, *, allowed: Networks) -> Target | None:
    """The check at subscription time; None when the name does not resolve now (checked again on delivery)."""
    _, hostname, port = _split(url)
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    return _target(url, _addresses(list(infos)), allowed)
