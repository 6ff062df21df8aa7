"""Outbound requests to user-supplied destinations: resolve, pin the IP, check it, re-check hops.

Every network probe and client in `connections/` goes through this module. A name is resolved
once, every answer is checked, and the socket is opened to the checked address (so a second DNS
answer can never be used: no rebinding); the one exception is the official Kubernetes client,
whose destination is checked here but which resolves the name again itself. Redirects are
followed by hand and each hop is checked again. Loopback, private, ULA and CGNAT addresses are
reachable only for connections an admin marked `internal`; link-local and cloud metadata
addresses are never reachable.
"""

import contextlib
import http.client
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from connections.errors import BlockedDestination

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

HTTP_SCHEMES = frozenset({"http", "https"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_BODY = 1024 * 1024
# Never reachable, not even for internal connections: metadata services hand out credentials.
FORBIDDEN = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "169.254.0.0/16", "100.100.100.200/32", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "fe80::/10", "fd00:ec2::254/128", "ff00::/8",
    )
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# inet_aton's legacy spellings: 2130706433, 0177.0.0.1, 0x7f000001, 127.1.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns, so all of them can be checked."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedDestination(f"{host} does not resolve") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class Policy:
    """What one caller may reach; `trusted` lets tests mark one local listener as external."""

    allow_internal: bool = False
    schemes: frozenset[str] = HTTP_SCHEMES
    resolver: Resolver = system_resolver
    trusted: frozenset[tuple[str, int]] = frozenset()
    max_redirects: int = 5
    timeout: float = 10.0


@dataclass(frozen=True)
class TLSOptions:
    insecure: bool = False
    ca: str = ""
    cert: str = field(default="", repr=False)
    key: str = field(default="", repr=False)


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    url: str
    ip: str
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        import json

        return json.loads(self.body or b"null")


def literal_ip(host: str) -> IPAddress | None:
    """An IP written in any form a resolver would accept, or None for a name."""
    bare = host.strip("[]").split("%", 1)[0]
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(bare)
    if _LEGACY_IPV4.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError as exc:
            raise BlockedDestination(f"{host} is not a valid address") from exc
    return None


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """IPv4-mapped, 6to4, Teredo and NAT64 addresses are judged by the IPv4 they carry."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip.teredo:
            return ip.teredo[1]
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def classify(ip: IPAddress) -> str:
    """`forbidden`, `internal` or `public`."""
    inner = _embedded_ipv4(ip)
    for candidate in {ip, inner}:
        if any(candidate.version == net.version and candidate in net for net in FORBIDDEN):
            return "forbidden"
        if candidate.is_unspecified or candidate.is_multicast or candidate.is_link_local:
            return "forbidden"
    for candidate in {ip, inner}:
        if (candidate.is_loopback or candidate.is_private or not candidate.is_global
                or (candidate.version == 4 and candidate in CGNAT)):
            return "internal"
    return "public"


def check_ip(ip: IPAddress, port: int, host: str, policy: Policy) -> str:
    """The address as a string when the policy allows it; raises BlockedDestination otherwise."""
    text = str(ip)
    if (text, port) in policy.trusted:
        return text
    verdict = classify(ip)
    if verdict == "forbidden":
        raise BlockedDestination(f"{host} is a link-local or metadata address, which is never "
                                 "reachable")
    if verdict == "internal" and not policy.allow_internal:
        raise BlockedDestination(f"{host} is a private address; only connections an admin "
                                 "marked internal may reach it")
    return text


def pin(host: str, port: int, policy: Policy) -> str:
    """Resolve once, check every answer, and return the one address to connect to."""
    if not host:
        raise BlockedDestination("the destination has no host")
    ip = literal_ip(host)
    if ip is not None:
        return check_ip(ip, port, host, policy)
    answers = policy.resolver(host.rstrip("."), port)
    if not answers:
        raise BlockedDestination(f"{host} does not resolve")
    checked = [check_ip(ipaddress.ip_address(a.split("%", 1)[0]), port, host, policy)
               for a in answers]
    return checked[0]


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host.lower(), self.port


def parse_url(url: str, policy: Policy) -> Target:
    """Scheme allow-list, no userinfo, a host and a port; credentials belong in fields."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BlockedDestination("the URL is malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in policy.schemes:
        raise BlockedDestination(f"scheme '{scheme or '(none)'}' is not allowed")
    if "@" in parts.netloc:
        raise BlockedDestination("URLs may not carry user information; use the credential "
                                 "fields")
    host = parts.hostname or ""
    if not host:
        raise BlockedDestination("the URL has no host")
    default = {"https": 443, "http": 80, "ssh": 22, "git": 9418}.get(scheme, 0)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or default, path)


def ssl_context(tls: TLSOptions | None) -> ssl.SSLContext:
    """Verification on unless the connection says insecureTLS; client keys never touch disk long."""
    tls = tls or TLSOptions()
    context = ssl.create_default_context(cadata=tls.ca or None)
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert:
        with _private_files(tls.cert, tls.key) as (cert_path, key_path):
            context.load_cert_chain(cert_path, key_path or None)
    return context


@contextlib.contextmanager
def _private_files(*contents: str) -> Iterator[list[str]]:
    """ssl wants paths: a 0700 directory that lives only while the chain is loaded."""
    with tempfile.TemporaryDirectory(prefix="fd-tls-") as folder:
        os.chmod(folder, 0o700)
        paths = []
        for index, text in enumerate(contents):
            if not text:
                paths.append("")
                continue
            path = Path(folder) / f"{index}.pem"
            path.touch(mode=0o600)
            path.write_text(text)
            paths.append(str(path))
        yield paths


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        # SNI and certificate checks use the name, the socket uses the pinned address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def open_socket(host: str, port: int, policy: Policy) -> tuple[socket.socket, str]:
    """A TCP socket to the checked address, for probes that speak their own protocol."""
    ip = pin(host, port, policy)
    return socket.create_connection((ip, port), policy.timeout), ip


_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "private-token", "x-api-key",
                                 "proxy-authorization"})


def request(
    method: str,
    url: str,
    *,
    policy: Policy,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    tls: TLSOptions | None = None,
    follow_redirects: bool = True,
    max_body: int = MAX_BODY,
) -> Response:
    """One HTTP exchange with every hop pinned and checked; the body is capped."""
    headers = dict(headers or {})
    headers.setdefault("User-Agent", "Flightdeck")
    started = time.monotonic()
    context: ssl.SSLContext | None = None
    first = parse_url(url, policy)
    for _hop in range(policy.max_redirects + 1):
        target = parse_url(url, policy)
        ip = pin(target.host, target.port, policy)
        if target.scheme == "https":
            context = context or ssl_context(tls)
            conn: http.client.HTTPConnection = _PinnedHTTPS(
                target.host, target.port, ip, policy.timeout, context)
        else:
            conn = _PinnedHTTP(target.host, target.port, ip, policy.timeout)
        try:
            conn.request(method, target.path, body=body, headers=headers)
            raw = conn.getresponse()
            payload = raw.read(max_body)
            status, reason = raw.status, raw.reason
            got = {k.lower(): v for k, v in raw.getheaders()}
        finally:
            conn.close()
        location = got.get("location")
        if follow_redirects and status in REDIRECTS and location:
            url = urljoin(url, location)
            if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
                method, body = "GET", None
            if parse_url(url, policy).origin != first.origin:
                # Credentials were meant for the first origin only.
                headers = {k: v for k, v in headers.items()
                           if k.lower() not in _CREDENTIAL_HEADERS}
            continue
        return Response(status, reason, got, payload, url, ip,
                        (time.monotonic() - started) * 1000)
    raise BlockedDestination(f"more than {policy.max_redirects} redirects")
