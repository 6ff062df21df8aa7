"""What every connection kind declares: its fields, which are secret, its settings and its probe."""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connections import ssrf

STRING, TEXT, INT, BOOL, LIST, CHOICE, KEYVALUES = (
    "string", "text", "int", "bool", "list", "choice", "keyvalues")


@dataclass(frozen=True)
class Field:
    """One typed field of a kind's spec block; `path` may be dotted (`tls.ca`, `oauth.clientID`)."""

    path: str
    label: str
    type: str = STRING
    required: bool = False
    secret: bool = False  # an EnvVar that never takes a literal in a CR
    envvar: bool = False  # a non-secret value that may also come from a Secret (usernames)
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""
    endpoint: bool = False  # the override tests point at local stubs

    @property
    def form_name(self) -> str:
        return self.path.replace(".", "__")


@dataclass
class ProbeResult:
    ok: bool
    message: str
    latency_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeContext:
    """What a probe may use: the SSRF policy of this connection and its TLS choices."""

    policy: ssrf.Policy
    tls: ssrf.TLSOptions = field(default_factory=ssrf.TLSOptions)

    def request(self, method: str, url: str, **kwargs: Any) -> ssrf.Response:
        kwargs.setdefault("tls", self.tls)
        return ssrf.request(method, url, policy=self.policy, **kwargs)


@dataclass(frozen=True)
class Kind:
    """A connection type: one module in connections/kinds/ builds one of these."""

    name: str
    label: str
    fields: tuple[Field, ...]
    settings: Callable[[Mapping[str, Any]], Any]  # resolved block -> typed client settings
    probe: Callable[[Any, ProbeContext], ProbeResult]
    validate: Callable[[Mapping[str, Any]], dict[str, str]] = lambda block: {}
    summary: str = ""

    @property
    def secret_paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.fields if f.secret)

    def field(self, path: str) -> Field:
        for candidate in self.fields:
            if candidate.path == path:
                return candidate
        raise KeyError(path)


def get_path(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def delete_path(data: dict[str, Any], path: str) -> None:
    parts = path.split(".")
    node: Any = data
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def timed(fn: Callable[[], ProbeResult]) -> ProbeResult:
    """Latency of the whole probe, measured the same way for every kind."""
    started = time.monotonic()
    result = fn()
    result.latency_ms = round((time.monotonic() - started) * 1000, 1)
    return result


def http_status_result(response: ssrf.Response, what: str) -> ProbeResult:
    """Status line only: response bodies may echo credentials back."""
    ok = response.ok
    return ProbeResult(ok, f"{what}: HTTP {response.status} {response.reason}".strip())


def api_user_probe(api_url: str, headers: Mapping[str, str], ctx: "ProbeContext",
                   name_key: str) -> ProbeResult:
    """GitHub and GitLab alike: `GET <api>/user` proves the token and names its owner."""

    def run() -> ProbeResult:
        response = ssrf.request("GET", f"{api_url}/user", policy=ctx.policy,
                                headers=dict(headers), tls=ctx.tls)
        if not response.ok:
            return ProbeResult(False, f"GET /user: HTTP {response.status} {response.reason}")
        return ProbeResult(True, f"authenticated as {(response.json() or {}).get(name_key, '?')}")

    return timed(run)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
