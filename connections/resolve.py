"""Connection -> ready-to-use client settings, at the last moment, in the process that needs them.

Secret material lives only in the returned objects, one bounded 60 s in-memory cache and the
redactor's registry of values to mask. That
cache is the one per-process cache of secrets we allow (secrets are otherwise never cached): a
playbook or scrape resolves the same connection once per step or per kind, and without it every
step would hit the Kubernetes API server for the same Secret. Entries expire after 60 seconds,
so a rotated Secret is picked up within a minute, and nothing is ever written to Redis, Celery
messages or the database. Every resolved secret is registered with the log redactor.
"""

import base64
import copy
import dataclasses
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connections import crypto, secret_store, ssrf
from connections.errors import ConnectionFailure, ConnectionUnavailable, SecretUnavailable
from connections.kinds import KINDS
from connections.kinds import kubernetes as kube
from connections.kinds.base import Kind, ProbeContext, ProbeResult, get_path, set_path
from connections.models import Connection
from connections.redact import REDACTOR
from connections.spec import PLACEHOLDER, REFERENCE, is_envvar

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 512
MAX_DEPTH = 2  # a kubernetes connection that reads its kubeconfig from another cluster, no more


class ValueCache:
    """valueFrom results by (source, namespace, kind, name, key): bounded, expiring, in memory."""

    def __init__(self, ttl: float = CACHE_SECONDS, size: int = CACHE_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._entries: OrderedDict[tuple, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], str]) -> str:
        now = self.clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                self._entries.move_to_end(key)
                return hit[1]
        value = load()
        with self._lock:
            self._entries[key] = (now + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def forget(self, prefix: tuple) -> None:
        """Drop entries under `prefix`, e.g. one Secret that was just rewritten."""
        with self._lock:
            for key in [k for k in self._entries if k[:len(prefix)] == prefix]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


CACHE = ValueCache()


def parse_reference(ref: str, namespace: str) -> tuple[str, str]:
    """`connection://ns/name`, or `connection://name` in the referencing object's namespace."""
    match = REFERENCE.match(ref.strip()) if isinstance(ref, str) else None
    if not match:
        raise ConnectionUnavailable(str(ref)[:300], "is not a valid reference "
                                    "(connection://<namespace>/<name>)")
    return match["ns"] or namespace, match["name"]


def lookup(ref: str, *, namespace: str, user: Any = None, action: str = "use") -> Connection:
    """The connection, if it exists, is shared with `namespace`, and `user` may use it."""
    target_ns, name = parse_reference(ref, namespace)
    canonical = f"connection://{target_ns}/{name}"
    rows = Connection.objects.live()
    if user is not None:
        rows = rows.for_user(user, action)
    connection = rows.filter(namespace=target_ns, name=name).first()
    if connection is None:
        raise ConnectionUnavailable(canonical)
    shared = connection.allowed_namespaces
    if target_ns != namespace and namespace not in shared and "*" not in shared:
        raise ConnectionUnavailable(canonical, f"is not shared with namespace {namespace} "
                                    "(spec.allowedNamespaces)")
    return connection


def check_reference(ref: str, *, namespace: str, user: Any = None) -> Connection:
    """Validation-time check for scrapers, actions, checks and notifications."""
    return lookup(ref, namespace=namespace, user=user)


@dataclass
class Resolution:
    """Everything a client or probe needs; lives in memory for one use."""

    connection: Connection
    kind: Kind
    settings: Any
    context: ProbeContext


class _Resolver:
    """One resolution: which Kubernetes API to read Secrets from, and the literals in play."""

    def __init__(self, connection: Connection, literals: Mapping[str, str] | None,
                 depth: int, user: Any = None) -> None:
        self.connection = connection
        self.literals = dict(literals or {})
        self.depth = depth
        self.user = user
        self._kube: tuple[str, kube.KubernetesSettings, ProbeContext] | None = None

    @property
    def ref(self) -> str:
        return self.connection.reference

    def envvar(self, path: str, value: Any, secret: bool) -> str:
        if not is_envvar(value):
            return value if isinstance(value, str) else str(value)
        if "value" in value:
            return str(value["value"])
        (source, ref), = value["valueFrom"].items()
        if source == "env":
            found = os.environ.get(ref["name"])
            if found is None:
                raise SecretUnavailable(self.ref, path, f"env {ref['name']}",
                                        "not set in the environment of this worker")
            return found
        if source == "stored":
            return self.stored(path)
        return self.from_cluster(path, source, ref)

    def stored(self, path: str) -> str:
        if path in self.literals:
            return self.literals[path]
        row = None if self.connection._state.adding else \
            self.connection.stored_secrets.filter(field=path).first()
        if row is None:
            raise SecretUnavailable(self.ref, path, "encrypted", "no stored value")
        return crypto.decrypt(row.ciphertext)

    def kube_source(self) -> tuple[str, kube.KubernetesSettings, ProbeContext]:
        if self._kube is None:
            ref = (self.connection.spec or {}).get("kubernetesConnection")
            if ref:
                if self.depth >= MAX_DEPTH:
                    raise ConnectionFailure(f"Connection {self.ref}: kubernetesConnection chain "
                                            "is too deep")
                source = lookup(ref, namespace=self.connection.namespace, user=self.user)
                if source.type != "kubernetes":
                    raise ConnectionFailure(f"Connection {self.ref}: kubernetesConnection {ref} "
                                            "is not a kubernetes connection")
                resolution = _resolve(source, depth=self.depth + 1, user=self.user)
                self._kube = (source.reference, resolution.settings, resolution.context)
            else:
                self._kube = ("in-cluster", kube.in_cluster(),
                              ProbeContext(ssrf.Policy(allow_internal=True)))
        return self._kube

    def from_cluster(self, path: str, source: str, ref: Mapping[str, str]) -> str:
        kind = "secrets" if source == "secretKeyRef" else "configmaps"
        label = "Secret" if kind == "secrets" else "ConfigMap"
        namespace = self.connection.namespace
        where = f"{label} {namespace}/{ref['name']}, key {ref['key']}"
        source_of = self.store_source if kind == "secrets" and secret_store.holds(
            self.connection.name, ref) else self.kube_source

        def load() -> str:
            try:
                _origin, conf, ctx = source_of()
                status, body = kube.get_json(
                    conf, f"/api/v1/namespaces/{quote(namespace)}/{kind}/{quote(ref['name'])}",
                    ctx)
            except ConnectionFailure as exc:
                raise SecretUnavailable(self.ref, path, where, str(exc)) from None
            except OSError as exc:
                raise SecretUnavailable(self.ref, path, where,
                                        f"cannot reach the API server ({exc.__class__.__name__})"
                                        ) from None
            if body is None:
                raise SecretUnavailable(self.ref, path, where, f"HTTP {status}")
            data = body.get("data") or {}
            if ref["key"] not in data:
                raise SecretUnavailable(self.ref, path, where, "no such key")
            raw = data[ref["key"]]
            if kind == "secrets":
                try:
                    return base64.b64decode(raw).decode()
                except (ValueError, UnicodeDecodeError):
                    raise SecretUnavailable(self.ref, path, where, "not UTF-8 text") from None
            return str(raw)

        try:
            origin = secret_store.origin() if source_of == self.store_source \
                else self.kube_source()[0]
        except ConnectionFailure as exc:
            raise SecretUnavailable(self.ref, path, where, str(exc)) from None
        return CACHE.get((origin, namespace, kind, ref["name"], ref["key"]), load)

    def store_source(self) -> tuple[str, kube.KubernetesSettings, ProbeContext]:
        """The cluster secret_store writes to, whatever spec.kubernetesConnection says."""
        conf, ctx = secret_store.cluster()
        return secret_store.origin(), conf, ctx


class _OwnerResolver(_Resolver):
    """EnvVars owned by something other than a connection: same sources, cache and redactor,
    read in the owner's namespace (secretKeyRef from the in-cluster API server)."""

    def __init__(self, owner: str, namespace: str) -> None:
        super().__init__(Connection(name="", namespace=namespace, spec={}), None, 0)
        self.owner = owner

    @property
    def ref(self) -> str:
        return self.owner


def resolve_envvar(value: Any, *, namespace: str, owner: str, field: str) -> str:
    """A secret reference outside a connection (a playbook webhook's credentials), at use time.

    Raises SecretUnavailable naming `owner`, `field` and where it looked, never the value.
    """
    resolved = _OwnerResolver(owner, namespace).envvar(field, value, True)
    REDACTOR.add(resolved)
    return resolved


def _apply_overrides(block: dict[str, Any], overrides: Mapping[str, Any] | None) -> None:
    for path, value in (overrides or {}).items():
        set_path(block, path, value)


def _template_url(kind: Kind, block: dict[str, Any]) -> None:
    """`$(username)` and `$(password)` in URLs, URL-quoted so a secret cannot change the URL."""
    url = block.get("url")
    if not isinstance(url, str) or "$(" not in url:
        return

    def fill(match: Any) -> str:
        value = get_path(block, match.group(1))
        if value is None:
            raise ConnectionFailure(f"url: $({match.group(1)}) has no value")
        return quote(str(value), safe="")

    block["url"] = PLACEHOLDER.sub(fill, url)


def _resolve(connection: Connection, *, overrides: Mapping[str, Any] | None = None,
             literals: Mapping[str, str] | None = None, depth: int = 0,
             user: Any = None) -> Resolution:
    kind = KINDS[connection.type]
    resolver = _Resolver(connection, literals, depth, user)
    raw = copy.deepcopy(connection.block)
    _apply_overrides(raw, overrides)
    block: dict[str, Any] = {}
    for field in kind.fields:
        value = get_path(raw, field.path)
        if value is None or value == "":
            continue
        if field.secret or field.envvar:
            value = resolver.envvar(field.path, value, field.secret)
            if field.secret:
                REDACTOR.add(value)
        set_path(block, field.path, value)
    _template_url(kind, block)
    block["_insecure"] = connection.insecure_tls or bool((connection.spec or {}).get(
        "insecureTLS"))
    settings = kind.settings(block)
    _register(settings)
    policy = ssrf.Policy(allow_internal=connection.internal)
    context = ProbeContext(policy, ssrf.TLSOptions(insecure=block["_insecure"]))
    return Resolution(connection, kind, settings, context)


def _register(settings: Any) -> None:
    """Derived secrets too: header values such as `Basic base64(user:password)`."""
    if not dataclasses.is_dataclass(settings):
        return
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if dataclasses.is_dataclass(value):
            _register(value)
        elif not item.repr and isinstance(value, Mapping):
            for inner in value.values():
                REDACTOR.add(inner)
                if isinstance(inner, str) and " " in inner:
                    REDACTOR.add(inner.split(" ", 1)[1])  # the credential after "Bearer "
        elif not item.repr:
            REDACTOR.add(value)


def _audit(connection: Connection, purpose: str, actor: Any) -> None:
    from accounts.audit import record

    person = actor if getattr(actor, "is_authenticated", False) else None
    changes = {"purpose": purpose[:200]}
    if actor is not None and person is None:
        changes["actor"] = str(actor)[:200]
    if not connection._state.adding:
        record(None, "connection.use", obj=connection, changes=changes, person=person)


def resolve(connection: Connection, *, purpose: str, actor: Any = None,
            overrides: Mapping[str, Any] | None = None) -> Any:
    """Typed client settings (`PostgresSettings`, `HTTPSettings`, ...); audited as a use."""
    resolution = _resolve(connection, overrides=overrides)
    _audit(connection, purpose, actor)
    return resolution.settings


def resolve_reference(ref: str, *, namespace: str, purpose: str, actor: Any = None,
                      user: Any = None, overrides: Mapping[str, Any] | None = None) -> Any:
    """`connection://...` from a scraper, action, check or notification, to client settings."""
    connection = lookup(ref, namespace=namespace, user=user)
    return resolve(connection, purpose=purpose, actor=actor, overrides=overrides)


def kubernetes_configuration(ref: str, namespace: str = "default", *,
                             purpose: str = "kubernetes scrape", actor: Any = None) -> Any:
    """An official-client Configuration for a kubernetes connection (used by the scraper)."""
    connection = lookup(ref, namespace=namespace)
    if connection.type != "kubernetes":
        raise ConnectionFailure(f"Connection {connection.reference} is not a kubernetes "
                                "connection")
    conf = resolve(connection, purpose=purpose, actor=actor)
    # The official client connects by itself: check the destination now (not pinned).
    policy = kube.policy_for(conf, ssrf.Policy(allow_internal=connection.internal))
    target = ssrf.parse_url(conf.server, policy)
    ssrf.pin(target.host, target.port, policy)
    return kube.configuration(conf)


def _safe_message(exc: BaseException) -> str:
    if isinstance(exc, ConnectionFailure):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"[:300]


def probe(connection: Connection, *, actor: Any = None, literals: Mapping[str, str] | None = None,
          user: Any = None) -> ProbeResult:
    """Run the kind's harmless check; the message is masked before anyone sees it."""
    started = time.monotonic()
    try:
        resolution = _resolve(connection, literals=literals, user=user)
        _audit(connection, "test", actor)
        result = resolution.kind.probe(resolution.settings, resolution.context)
    except (ConnectionFailure, OSError, ValueError, KeyError) as exc:
        result = ProbeResult(False, _safe_message(exc),
                             round((time.monotonic() - started) * 1000, 1))
    result.message = REDACTOR.mask(result.message)[:500]
    return result


def test_and_store(connection: Connection, *, actor: Any = None) -> ProbeResult:
    """The Test button: probe, then record last_tested_* without touching updated_at."""
    from django.utils import timezone

    result = probe(connection, actor=actor, user=actor)
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        last_tested_at=now, last_test_ok=result.ok, last_test_message=result.message)
    connection.last_tested_at, connection.last_test_ok = now, result.ok
    connection.last_test_message = result.message
    return result
