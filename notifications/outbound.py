"""One policy for every request the server sends out: Web Push now, webhooks and SMS gateways
later. Anything that makes the server call a URL that someone else chose goes through here.

The rules (DESIGN.md, "Requests the server sends out"):

- **https only**, to a **public host**: no user-info (``https://127.0.0.1@host/`` means
  different hosts to different parsers), no fragment, printable ASCII only, a port in 1-65535.
  The host is a public IP literal, or a DNS name of at least two labels whose last label starts
  with a letter (so ``127.1``, ``2130706433`` and ``0x7f000001``, which resolvers take as
  loopback, are refused) and which is not a name for inside a network (``localhost``,
  ``.local``, ``.internal``, ``.home.arpa``, ...).
- Checked **when the URL is stored** (``check_url``, no DNS: a name's answer then proves
  nothing, and resolving would let a user probe the server's DNS) and **again when the request
  is sent**: the session from ``session()`` checks the URL again, resolves the name at connect
  time, refuses the request if **any** address is not public, and connects to the very address
  it checked, so a second DNS answer (rebinding) cannot slip in between. TLS still verifies the
  certificate against the name. Two clients keep these rules: ``OutboundClient`` (aiohttp,
  one per process, what Web Push sends with) and ``session()`` (``requests``, for code that
  is synchronous).
- Not public: loopback, private, link-local, shared (CGNAT, 100.64/10), multicast, reserved,
  unspecified, documentation ranges, IPv6 ULA and scoped addresses, and the cloud metadata
  addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16, ...). IPv4 inside
  IPv6 (mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is judged by
  the IPv4 address it carries.
- **No redirects followed**: a 3xx is returned to the caller as it is, a failed delivery.
- **No proxies from the environment** and no ``.netrc`` credentials (``trust_env`` off): the
  check would otherwise see only the proxy.
- **Loopback** (and plain http, to loopback only) only when ``allow_loopback`` is set, which
  ``WALLET_OUTBOUND_ALLOW_LOOPBACK=1`` does for tests and development. Private ranges stay
  refused even then.
- A **cap per person** on stored URLs is the caller's (push: ``push.MAX_DEVICES``), because
  only the caller knows what one entry is.

Use::

    policy = OutboundPolicy(allow_loopback=settings.outbound_allow_loopback)
    policy.check_url(url)                 # when storing; raises UrlNotAllowed (a 400)
    http = OutboundClient(policy)         # once per process, in a running event loop
    resp = await http.post(url, data=...) # when sending; UrlNotAllowed if refused
    await http.close()                    # when the process stops
    with policy.session() as http:        # the synchronous client, same rules
        http.post(url, data=..., timeout=10)

A refusal at send time raises ``UrlNotAllowed`` out of either client (it is neither an
``aiohttp.ClientError`` nor a ``requests.RequestException``), so a caller tells "refused by
policy" (do not retry; drop or disable the stored URL) from "the network failed" (retry).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import aiohttp
import requests
from aiohttp.abc import AbstractResolver, ResolveResult
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from payments.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata and platform services. Most lie in ranges refused anyway; listed so the
# refusal says what they are, and for the one that is a public address (Azure's wire server).
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, Oracle, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC DNS
        "169.254.169.123",  # AWS time sync
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",  # AWS VPC DNS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a public address)
    )
)
SHARED = ipaddress.ip_network("100.64.0.0/10")  # CGNAT (RFC 6598)
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
ULA = ipaddress.ip_network("fc00::/7")
# Names that only mean something inside a network (RFC 6761, 6762, 8375 and common use).
INSIDE_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "intranet",
    "localdomain",
    "lan",
    "home",
    "corp",
    "home.arpa",
    "arpa",
)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# Printable ASCII without space: what a browser's serialised URL is made of.
PRINTABLE_URL = re.compile(r"[\x21-\x7e]+")


class UrlNotAllowed(InvalidInput):
    """The outbound-URL policy refuses this URL or the address its name resolved to.

    ``host`` is the host alone (never the path, which for push is a device's secret)."""

    slug = "url-not-allowed"
    title = "The server may not send requests to this address"

    def __init__(self, reason: str, host: str | None = None) -> None:
        super().__init__(f"{host}: {reason}" if host else reason)
        self.reason = reason
        self.host = host


def host_of(url: str) -> str | None:
    """The host of a URL for logs and audit (never its path or user-info), or None."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would be routed to, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def address_refusal(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why the server may not connect to this address, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "a scoped IPv6 address"
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = address_refusal(inner, allow_loopback=allow_loopback)
            return f"{why} inside IPv6" if why else None
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in SHARED:
        return "a shared (carrier-grade NAT) address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ULA:
        return "a unique local IPv6 address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """The rules above; ``allow_loopback`` for tests and development only."""

    allow_loopback: bool = False

    def check_url(self, url: str) -> SplitResult:
        """Refuse a URL the server may not call, without DNS (see the module's docstring).
        Returns the parsed URL."""
        if not url or not PRINTABLE_URL.fullmatch(url):
            raise UrlNotAllowed("the URL has spaces, control or non-ASCII characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UrlNotAllowed(f"not a valid URL ({exc})") from exc
        host = (parts.hostname or "").rstrip(".")
        if "@" in parts.netloc:
            raise UrlNotAllowed("user-info (user@ or user:password@) is not allowed", host)
        if not host:
            raise UrlNotAllowed("the URL has no host")
        if parts.fragment or "#" in url:
            raise UrlNotAllowed("the URL has a fragment", host)
        if port == 0:
            raise UrlNotAllowed("port 0", host)
        ip = self._literal(parts.netloc, host)
        loopback = (ip is not None and self._is_loopback(ip)) or (
            ip is None and _is_localhost(host)
        )
        if parts.scheme != "https" and not (
            parts.scheme == "http" and self.allow_loopback and loopback
        ):
            raise UrlNotAllowed("only https is allowed", host)
        if ip is not None:
            why = address_refusal(ip, allow_loopback=self.allow_loopback)
            if why:
                raise UrlNotAllowed(why, host)
            return parts
        if loopback:
            if self.allow_loopback:
                return parts
            raise UrlNotAllowed("a loopback name", host)
        labels = host.split(".")
        if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
            raise UrlNotAllowed("not a public DNS name", host)
        if not labels[-1][0].isalpha():
            raise UrlNotAllowed("a number that resolvers read as an IPv4 address", host)
        if len(host) > 253 or _is_inside_name(host):
            raise UrlNotAllowed("a name for inside a network", host)
        return parts

    def check_address(self, host: str, ip: IPAddress) -> None:
        """Refuse an address that ``host`` resolved to."""
        why = address_refusal(ip, allow_loopback=self.allow_loopback)
        if why:
            raise UrlNotAllowed(f"resolves to {ip}, {why}", host)

    def addresses(self, host: str, port: int) -> list[tuple[str, int]]:
        """Resolve ``host`` now and return its addresses, all checked. The whole name is
        refused if any one address is not public: a mixed answer is a rebinding trick, not
        a fallback."""
        host = host.strip("[]").rstrip(".").lower()
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            self.check_address(host, literal)
            return [(str(literal), port)]
        if _is_inside_name(host) and not (self.allow_loopback and _is_localhost(host)):
            raise UrlNotAllowed("a name for inside a network", host)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        out: list[tuple[str, int]] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            # A link-local answer comes as "fe80::1%eth0"; it is refused either way.
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            self.check_address(host, ip)
            if (str(ip), port) not in out:
                out.append((str(ip), port))
        if not out:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
        return out

    def session(self) -> requests.Session:
        """A ``requests`` session that keeps this policy on every request it sends."""
        return _PolicySession(self)

    def _literal(self, netloc: str, host: str) -> IPAddress | None:
        try:
            return ipaddress.ip_address(host)
        except ValueError:
            if "[" in netloc:  # a bracketed host that is not an IPv6 address
                raise UrlNotAllowed("not a valid IPv6 address", host) from None
            return None

    @staticmethod
    def _is_loopback(ip: IPAddress) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback


def _is_localhost(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def _is_inside_name(host: str) -> bool:
    return any(host == s or host.endswith("." + s) for s in INSIDE_SUFFIXES)


# --- the sending side: requests -> urllib3, connecting only to checked addresses ------------


def _connect(conn: HTTPConnection, policy: OutboundPolicy) -> socket.socket:
    """``HTTPConnection._new_conn`` with the name resolved and checked here, and the socket
    opened to the checked address itself (an IP literal: no second DNS lookup)."""
    try:
        targets = policy.addresses(conn._dns_host, conn.port or 443)
    except socket.gaierror as e:
        raise NameResolutionError(conn.host, conn, e) from e
    last: OSError | None = None
    for address in targets:
        try:
            return urllib3_connection.create_connection(
                address,
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as e:
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            ) from e
        except OSError as e:
            last = e
    raise NewConnectionError(conn, f"Failed to establish a new connection: {last}")


@functools.cache
def _pool_classes(policy: OutboundPolicy) -> dict[str, type[HTTPConnectionPool]]:
    class CheckedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy)

    class CheckedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy)

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = CheckedHTTPConnection

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    return {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}


class _PolicyAdapter(HTTPAdapter):
    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.policy)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise UrlNotAllowed("outbound requests do not go through a proxy")


class _PolicySession(requests.Session):
    """Checks the URL again, never follows a redirect, ignores proxy and .netrc settings."""

    def __init__(self, policy: OutboundPolicy) -> None:
        super().__init__()
        self.policy = policy
        self.trust_env = False
        self.adapters.clear()
        adapter = _PolicyAdapter(policy)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    # requests' own signature takes bytes too; a URL here is always text.
    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.policy.check_url(url)
        kwargs["allow_redirects"] = False
        kwargs["proxies"] = {}
        return super().request(method, url, *args, **kwargs)


# --- the sending side: aiohttp, one session per process --------------------------------------


class _PolicyResolver(AbstractResolver):
    """aiohttp's resolver, replaced: resolve with ``OutboundPolicy.addresses`` (every answer
    checked, the whole name refused if one is not public) and hand the connector the checked
    IP literals, which it connects to without another lookup. aiohttp does not ask a resolver
    about IP literals; ``OutboundClient.post`` checks those with ``check_url``."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        # getaddrinfo blocks; aiohttp's own resolver runs it in the loop's executor too. It
        # happens once per new connection, not once per request.
        checked = await asyncio.to_thread(self.policy.addresses, host, port)
        numeric = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        return [
            {
                "hostname": host,
                "host": ip,
                "port": p,
                "family": socket.AF_INET6 if ":" in ip else socket.AF_INET,
                "proto": 0,
                "flags": numeric,
            }
            for ip, p in checked
        ]

    async def close(self) -> None:
        return None


class OutboundClient:
    """One aiohttp ``ClientSession`` that keeps the policy: the URL is checked again on every
    request, names are resolved and checked when a connection is opened and the connection
    goes to the checked address, redirects are never followed, proxies and ``.netrc`` from the
    environment are ignored (``trust_env`` off), no cookies are kept, and every request has a
    deadline (``timeout_s`` in all, ``connect_timeout_s`` to connect) whatever the caller
    passes. Connections to a push service are kept open and reused.

    Create it in a running event loop (the live machinery's start) and ``close`` it when that
    stops. ``post`` has the shape pywebpush's ``webpush_async`` calls on its
    ``aiohttp_session``."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        max_connections: int = 32,
    ) -> None:
        self.policy = policy
        self.timeout = aiohttp.ClientTimeout(
            total=timeout_s, sock_connect=min(connect_timeout_s, timeout_s)
        )
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                resolver=_PolicyResolver(policy),
                use_dns_cache=False,
                limit=max_connections,
            ),
            timeout=self.timeout,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    @property
    def closed(self) -> bool:
        return self._session.closed

    async def post(self, url: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """POST through the policy. The caller's ``timeout``, ``allow_redirects`` and
        ``proxy`` are replaced by the policy's."""
        self.policy.check_url(url)
        for key in ("timeout", "allow_redirects", "proxy", "proxy_auth", "max_redirects"):
            kwargs.pop(key, None)
        return await self._session.post(url, allow_redirects=False, timeout=self.timeout, **kwargs)

    async def close(self) -> None:
        await self._session.close()
