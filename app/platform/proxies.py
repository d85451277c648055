"""The real client behind trusted proxies (issue 19, item 3): a tiny WSGI middleware.

``CARD_TRUSTED_PROXIES`` lists addresses or CIDR networks (``10.0.0.0/16, 127.0.0.1``). Only
when the immediate peer (``REMOTE_ADDR``) is one of them are ``X-Forwarded-For`` and
``X-Forwarded-Proto`` read: walking X-Forwarded-For from the right, trusted hops are skipped and
the first address that is not a trusted proxy is the client (a client can write anything to the
left of the entry its proxy appended, so nothing further left is believed). If every hop is
trusted, the left-most is the client. ``X-Forwarded-Proto`` (the nearest proxy's, right-most
value) sets the scheme if it is ``http`` or ``https``. From any other peer both headers are
removed, so a forged one changes nothing. Werkzeug's ``ProxyFix`` trusts a fixed number of hops
from any peer, which is why this is not it. The console's per-address log-in limit and the logs
(gunicorn's access log reads the same ``REMOTE_ADDR``) see the real client (M-19: only the
address, nothing more, is kept in the throttle key, and only for its window).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PEER_KEY = "citizencard.proxy_peer"  # the immediate peer's address, kept in the WSGI environ
FORWARDED_KEY = "citizencard.forwarded"  # True when the request carried X-Forwarded-For (believed or not)


def parse_networks(value: str | Iterable[str | Network] | None) -> tuple[Network, ...]:
    """``"10.0.0.0/16, 127.0.0.1"`` (or a list of such, or of networks) -> networks; ValueError
    names a bad entry."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    networks: list[Network] = []
    for item in filter(None, (part if isinstance(part, Network) else part.strip() for part in items)):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class TrustedProxies:
    """WSGI middleware: ``REMOTE_ADDR`` and ``wsgi.url_scheme`` from the forwarded headers of a
    trusted peer only (changes the environ in place, so gunicorn's access log sees them too)."""

    def __init__(self, wsgi_app: Callable[..., Any], networks: tuple[Network, ...]) -> None:
        self.wsgi_app, self.networks = wsgi_app, networks

    def trusted(self, address: Any) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        peer = environ.get("REMOTE_ADDR") or ""
        environ[PEER_KEY] = peer
        forwarded = environ.pop("HTTP_X_FORWARDED_FOR", None)
        proto = environ.pop("HTTP_X_FORWARDED_PROTO", None)
        environ[FORWARDED_KEY] = forwarded is not None
        if self.networks and self.trusted(_address(peer)):
            if forwarded:
                environ["REMOTE_ADDR"] = self.client(peer, forwarded)
            scheme = (proto or "").rsplit(",", 1)[-1].strip().lower()
            if scheme in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme
        return self.wsgi_app(environ, start_response)

    def client(self, peer: str, forwarded: str) -> str:
        """The right-most hop of ``forwarded`` that is not a trusted proxy (the left-most if all
        are); an entry that is not an address ends the walk at the hop to its right."""
        client = peer
        for hop in reversed(forwarded.split(",")):
            address = _address(hop)
            if address is None:
                break
            client = str(address)
            if not self.trusted(address):
                break
        return client
