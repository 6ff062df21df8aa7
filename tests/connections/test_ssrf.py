"""SSRF payloads: every internal listener must count 0 hits."""
# ruff: noqa: S104 - 0.0.0.0 appears as an SSRF payload; nothing here binds to it

import socket
from collections.abc import Iterator

import pytest

from connections import ssrf
from connections.errors import BlockedDestination
from tests.connections.servers import Listener

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, list[Listener]]]:
    """The 'external' listener on 127.0.0.2:P; internal ones on 127.0.0.1:P (and [::1]:P)."""
    internal = Listener("127.0.0.1")
    port = internal.port
    external = Listener("127.0.0.2", port)
    others = [internal]
    if _ipv6_available():
        others.append(Listener("::1", port))
    with external:
        for listener in others:
            listener.__enter__()
        try:
            yield external, others
        finally:
            for listener in others:
                listener.__exit__(None, None, None)


def internal_hits(others: list[Listener]) -> int:
    return sum(len(listener.hits) for listener in others)


def policy_for(external: Listener, **kwargs) -> ssrf.Policy:
    # localhost resolves as on any real host, so only the address check can refuse it.
    def resolver(host: str, port: int) -> list[str]:
        table = {"localhost": ["127.0.0.1"],
                 "external.test": ["127.0.0.2"], "private.test": ["10.1.2.3"],
                 "loopback.test": ["127.0.0.1"], "mixed.test": ["127.0.0.2", "127.0.0.1"],
                 "metadata.test": ["169.254.169.254"]}
        if host not in table:
            raise BlockedDestination(f"{host} does not resolve")
        return table[host]

    return ssrf.Policy(resolver=resolver, trusted=frozenset({("127.0.0.2", external.port)}),
                       timeout=3, **kwargs)


def payload_urls(port: int) -> list[str]:
    hosts = ["169.254.169.254", "[fd00:ec2::254]", "127.0.0.1", "127.1", "[::1]", "0.0.0.0",
             "[::]", "2130706433", "0177.0.0.1", "0x7f000001", "0x7f.0.0.1", "017700000001",
             "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
             "[64:ff9b::127.0.0.1]", "[2002:7f00:1::]", "10.0.0.1", "172.16.0.1", "192.168.1.1",
             "169.254.1.1", "[fc00::1]", "[fe80::1]", "100.64.0.1", "127.0.0.1.", "localhost",
             "private.test", "loopback.test", "metadata.test", "mixed.test"]
    return [f"http://{host}:{port}/" for host in hosts]


OTHER = ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://127.0.0.1/", "dict://127.0.0.1:11211/",
         "http://external.test@127.0.0.1:{port}/", "http://user:pw@external.test:{port}/",
         "ldap://127.0.0.1/", "//127.0.0.1:{port}/", "http:///x"]


def test_every_payload_is_blocked_with_zero_internal_hits(listeners):
    external, others = listeners
    policy = policy_for(external)
    urls = payload_urls(external.port) + [u.format(port=external.port) for u in OTHER]

    reasons = {}
    for url in urls:
        with pytest.raises(BlockedDestination) as refused:
            ssrf.request("GET", url, policy=policy)
        reasons[url] = str(refused.value)

    assert len(reasons) == len(urls)
    # A payload refused because the stub cannot resolve it proves nothing about the guard.
    assert {url: why for url, why in reasons.items() if "does not resolve" in why} == {}
    assert internal_hits(others) == 0


def test_localhost_is_refused_as_a_private_address(listeners):
    external, others = listeners
    policy = policy_for(external)
    assert policy.resolver("localhost", external.port) == ["127.0.0.1"]

    with pytest.raises(BlockedDestination) as refused:
        ssrf.request("GET", f"http://localhost:{external.port}/", policy=policy)

    assert str(refused.value) == ("localhost is a private address; only connections an admin "
                                  "marked internal may reach it")
    assert internal_hits(others) == 0
    # The same name is reachable once an admin marks the connection internal: the refusal
    # above came from the address policy, not from the name.
    allowed = policy_for(external, allow_internal=True)
    assert ssrf.request("GET", f"http://localhost:{external.port}/", policy=allowed).status == 200
    assert len(others[0].hits) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_from_the_external_listener_to_internal_targets_are_blocked(listeners, status):
    external, others = listeners
    targets = payload_urls(external.port)
    for index, target in enumerate(targets):
        external.routes[f"/r{index}"] = (status, {"Location": target}, b"")
    policy = policy_for(external)

    for index in range(len(targets)):
        with pytest.raises(BlockedDestination):
            ssrf.request("GET", f"http://external.test:{external.port}/r{index}", policy=policy)

    assert len(external.hits) == len(targets)
    assert internal_hits(others) == 0


def test_redirect_to_another_scheme_is_blocked(listeners):
    external, _others = listeners
    external.routes["/r"] = (302, {"Location": "file:///etc/passwd"}, b"")

    with pytest.raises(BlockedDestination, match="scheme 'file'"):
        ssrf.request("GET", f"{external.url}/r", policy=policy_for(external))


def test_dns_rebinding_uses_the_pinned_first_answer(listeners):
    external, others = listeners
    answers = iter([["127.0.0.2"], ["127.0.0.1"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    policy = ssrf.Policy(resolver=rebinding, timeout=3,
                         trusted=frozenset({("127.0.0.2", external.port)}))
    response = ssrf.request("GET", f"http://rebind.test:{external.port}/", policy=policy)

    assert response.status == 200 and response.ip == "127.0.0.2"
    assert len(external.hits) == 1 and external.hits[0].headers["Host"].startswith("rebind.test")
    assert internal_hits(others) == 0


def test_a_name_with_one_private_answer_is_blocked(listeners):
    external, others = listeners

    with pytest.raises(BlockedDestination, match="private"):
        ssrf.request("GET", f"http://mixed.test:{external.port}/", policy=policy_for(external))

    assert len(external.hits) == 0 and internal_hits(others) == 0


def test_internal_connections_reach_loopback_but_never_metadata(listeners):
    external, others = listeners
    policy = policy_for(external, allow_internal=True)

    assert ssrf.request("GET", f"{others[0].url}/", policy=policy).status == 200
    for host in ("169.254.169.254", "[fd00:ec2::254]", "[::ffff:169.254.169.254]", "0.0.0.0",
                 "metadata.test", "100.100.100.200"):
        with pytest.raises(BlockedDestination, match="never"):
            ssrf.request("GET", f"http://{host}:{external.port}/", policy=policy)
    assert len(others[0].hits) == 1


def test_credentials_are_dropped_on_a_cross_origin_redirect(listeners):
    external, _others = listeners
    second = Listener("127.0.0.2")
    with second:
        external.routes["/r"] = (302, {"Location": f"http://127.0.0.2:{second.port}/x"}, b"")
        policy = ssrf.Policy(timeout=3, trusted=frozenset({("127.0.0.2", external.port),
                                                           ("127.0.0.2", second.port)}))
        ssrf.request("GET", f"{external.url}/r", policy=policy,
                     headers={"Authorization": "Bearer t0ken-value"})

    assert external.hits[0].headers.get("Authorization") == "Bearer t0ken-value"
    assert "Authorization" not in second.hits[0].headers


def test_redirect_loops_stop(listeners):
    external, _others = listeners
    external.routes["/loop"] = (302, {"Location": "/loop"}, b"")

    with pytest.raises(BlockedDestination, match="redirects"):
        ssrf.request("GET", f"{external.url}/loop", policy=policy_for(external))

    assert len(external.hits) == 6


@pytest.mark.parametrize(("host", "verdict"), [
    ("8.8.8.8", "public"), ("2606:4700::1111", "public"), ("127.0.0.1", "internal"),
    ("10.9.8.7", "internal"), ("::ffff:10.0.0.1", "internal"), ("fd12::1", "internal"),
    ("169.254.169.254", "forbidden"), ("::ffff:169.254.169.254", "forbidden"),
    ("0.0.0.0", "forbidden"), ("::", "forbidden"), ("224.0.0.1", "forbidden"),
])
def test_classify(host, verdict):
    import ipaddress

    assert ssrf.classify(ipaddress.ip_address(host)) == verdict


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f000001", "127.1", "0x7f.1"])
def test_legacy_ipv4_spellings_are_read_as_loopback(host):
    assert str(ssrf.literal_ip(host)) == "127.0.0.1"
