"""kmock's KubernetesEmulator with the apiserver semantics Flightdeck relies on.

kmock 0.8 stores objects but ignores selectors, resource versions, paging, PUT and watch options,
and scans its whole request log on every request. `KubeEmulator` keeps kmock's HTTP server,
discovery and DSL (for non-resource paths), and serves resource URLs itself from an in-memory
store of immutable dicts:

- create stamps namespace (from the URL), generateName, uid, creationTimestamp, generation and
  the next global resourceVersion, and answers 201; updates get a fresh resourceVersion, no-op
  updates none; a stale metadata.resourceVersion in PUT or PATCH answers 409;
- GET/LIST/POST/PUT/PATCH (merge, strategic-as-merge, JSON Patch, apply approximated as
  create-or-merge)/DELETE (finalizers honoured)/deletecollection, `status` subresource, dryRun;
- labelSelector (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and simple fieldSelector on
  lists and watches; LIST paging with `limit`/`continue` over a snapshot, 410 Expired when the
  token is unknown, too old (`compact()`) or past `continue_ttl`;
- watches honour timeoutSeconds, replay events after a resourceVersion from a bounded event
  log (410 ERROR event when compacted away), turn label changes into ADDED/DELETED for selective
  watches, and send a BOOKMARK at timeout when asked;
- faults (faults.py): status codes, delays, dropped or reset watches, forced 410 on watches.

Not emulated: controllers, defaulting, validation, admission, RBAC, namespace lifecycle,
strategic-merge list semantics, field ownership, pod logs/exec, protobuf.
`running_emulator()` serves it on a daemon thread for synchronous (Django) tests.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import concurrent.futures
import contextlib
import copy
import datetime
import functools
import gzip
import importlib.resources
import json
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import yaml

from .faults import STATUS_REASONS, Fault, FaultInjector

if TYPE_CHECKING:
    import kubernetes.client

logger = logging.getLogger(__name__)

T = TypeVar("T")
JSON = dict[str, Any]
ObjectKey = tuple[str | None, str]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
# Under the core group, /api/v1/namespaces/{name}/{x} is a namespace subresource, not a resource.
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
# The alphabet apiserver uses for generateName suffixes (no vowels, no look-alike digits).
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Metadata a client cannot change by an update (deletionTimestamp only moves forward by DELETE).
SERVER_OWNED_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
CRD_RESOURCE = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)


@attrs.frozen
class ApiError(kmock.KubernetesError):
    """A failure answered with a Kubernetes Status body; sync helpers raise it too."""

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}"


def api_error(status: int, message: str, reason: str | None = None, **details: Any) -> ApiError:
    """Build an ApiError with the reason a real apiserver uses for that status code."""
    return ApiError(
        status=status,
        reason=reason or STATUS_REASONS.get(status, "Unknown"),
        message=message,
        details=details or None,
    )


def status_body(error: kmock.KubernetesError) -> JSON:
    """Render an error as a metav1.Status, the shape every Kubernetes client parses."""
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": error.message or "",
        "reason": error.reason or "",
        "code": error.status,
    }
    if error.details:
        body["details"] = error.details
    return body


def now_rfc3339() -> str:
    """Timestamps in the second-precision UTC form apiserver writes."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version_of(resource: kmock.resource) -> str:
    """The apiVersion string of a resource: `v1` for the core group, `group/version` otherwise."""
    return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)


def qualified_name(resource: kmock.resource) -> str:
    """How apiserver names a resource in messages: `pods`, `deployments.apps`."""
    return f"{resource.plural}.{resource.group}" if resource.group else str(resource.plural)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch copying only the dicts it changes, so stored objects stay immutable."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- selectors -------------------------------------------------------------------------------

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_TERM = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\(([^()]*)\)\s*")
_EQUALITY_TERM = re.compile(rf"\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*")
_EXISTS_TERM = re.compile(rf"\s*(!?)\s*({_KEY})\s*")
_FIELD_TERM = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*(==|=|!=)\s*(.*?)\s*")
_VALUE_RE = re.compile(_VALUE)

# (key, operator, values) with operator one of in, notin, exists, !exists.
Requirement = tuple[str, str, frozenset[str]]


def _split_terms(text: str) -> list[str]:
    """Split a selector on the commas that are not inside an `in (...)` value set."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """Parse a labelSelector (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`); ValueError if bad."""
    requirements: list[Requirement] = []
    for term in _split_terms(text or ""):
        if match := _SET_TERM.fullmatch(term):
            values = [value.strip() for value in match.group(3).split(",")]
            if not all(_VALUE_RE.fullmatch(value) for value in values):
                raise ValueError(f"invalid value in label selector term {term.strip()!r}")
            requirements.append((match.group(1), match.group(2), frozenset(values)))
        elif match := _EQUALITY_TERM.fullmatch(term):
            operator = "notin" if match.group(2) == "!=" else "in"
            requirements.append((match.group(1), operator, frozenset({match.group(3)})))
        elif match := _EXISTS_TERM.fullmatch(term):
            operator = "!exists" if match.group(1) else "exists"
            requirements.append((match.group(2), operator, frozenset()))
        else:
            raise ValueError(f"unable to parse requirement {term.strip()!r}")
    return tuple(requirements)


def labels_match(labels: Mapping[str, str] | None, requirements: tuple[Requirement, ...]) -> bool:
    """Whether labels satisfy every requirement; `!=` and `notin` also match an absent key."""
    labels = labels or {}
    for key, operator, values in requirements:
        present = key in labels
        if operator == "in":
            ok = present and labels[key] in values
        elif operator == "notin":
            ok = not present or labels[key] not in values
        elif operator == "exists":
            ok = present
        else:
            ok = not present
        if not ok:
            return False
    return True


def parse_field_selector(text: str) -> tuple[tuple[str, bool, str], ...]:
    """Parse a fieldSelector into (dotted path, wants equal, value); ValueError if malformed."""
    requirements: list[tuple[str, bool, str]] = []
    for term in _split_terms(text or ""):
        match = _FIELD_TERM.fullmatch(term)
        if match is None:
            raise ValueError(f"invalid field selector term {term.strip()!r}")
        requirements.append((match.group(1), match.group(2) != "!=", match.group(3)))
    return tuple(requirements)


def _field_value(obj: Any, path: str) -> str:
    """A field's value as the string a field selector compares with (absent is empty)."""
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    if obj is None:
        return ""
    if isinstance(obj, bool):
        return "true" if obj else "false"
    return str(obj)


def fields_match(obj: JSON, requirements: tuple[tuple[str, bool, str], ...]) -> bool:
    """Whether an object satisfies every field requirement."""
    return all((_field_value(obj, path) == value) == equal for path, equal, value in requirements)


# --- request targets, events and watches -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """What a resource URL addresses."""

    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def resource(self) -> kmock.resource:
        """The kmock resource (group, version, plural) of this URL."""
        return kmock.resource(self.group, self.version, self.plural)


def parse_target(path: str) -> Target | None:
    """Parse a resource URL; None for discovery and other non-resource paths.

    kmock's own parser crashes on `/api/v1/namespaces` and reads `/api/v1/namespaces/x` as a
    namespace with no resource, so resource URLs are parsed here.
    """
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    namespace_subresource = group == "" and len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES
    if rest[0] == "namespaces" and len(rest) >= 3 and not namespace_subresource:
        namespace, rest = rest[1], rest[2:]
    name = rest[1] if len(rest) > 1 else None
    return Target(group, version, rest[0], namespace, name, "/".join(rest[2:]) or None)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One committed change; `prev` lets a watch turn label changes into ADDED/DELETED."""

    rv: int
    resource: kmock.resource
    type: str
    obj: JSON
    prev: JSON | None


@dataclass(eq=False)
class _Watcher:
    resource: kmock.resource
    namespace: str | None
    name: str | None
    labels: tuple[Requirement, ...]
    fields: tuple[tuple[str, bool, str], ...]
    since: int = 0
    last_rv: int = 0
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: JSON) -> bool:
        meta = obj.get("metadata") or {}
        return (
            (self.namespace is None or meta.get("namespace") == self.namespace)
            and (self.name is None or meta.get("name") == self.name)
            and labels_match(meta.get("labels"), self.labels)
            and fields_match(obj, self.fields)
        )

    def translate(self, event: WatchEvent) -> tuple[str, JSON] | None:
        """The event this watch sees: an object leaving the selection is DELETED for it."""
        if event.rv <= self.since or event.resource != self.resource:
            return None
        now = self.matches(event.obj)
        if event.type != "MODIFIED":
            return (event.type, event.obj) if now else None
        was = event.prev is not None and self.matches(event.prev)
        if now:
            return ("MODIFIED" if was else "ADDED", event.obj)
        return ("DELETED", event.obj) if was else None


@dataclass
class _Snapshot:
    resource: kmock.resource
    items: list[JSON]
    rv: int
    created: float


def _json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> aiohttp.web.Response:
    return aiohttp.web.Response(
        body=json.dumps(payload, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _status_response(
    error: kmock.KubernetesError, headers: Mapping[str, str] | None = None
) -> aiohttp.web.Response:
    return _json_response(status_body(error), status=error.status, headers=headers)


def _event_line(kind: str, obj: JSON) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _spec_of(obj: JSON) -> JSON:
    """Everything whose change bumps metadata.generation."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _sort_key(key: ObjectKey) -> tuple[str, str]:
    return (key[0] or "", key[1])


_ACTIONS = {
    "GET": kmock.action.LIST,
    "POST": kmock.action.CREATE,
    "PUT": kmock.action.UPDATE,
    "PATCH": kmock.action.UPDATE,
    "DELETE": kmock.action.DELETE,
}


@functools.cache
def _bundled_resources() -> dict[kmock.resource, kmock.ResourceInfo]:
    """kmock's bundled K3s discovery data, parsed once per process.

    ResourcesArray.load_bundled() re-parses it per emulator through a deprecated importlib API.
    """
    data = importlib.resources.files("kmock._internal").joinpath("resources.json.gz").read_bytes()
    bundled = kmock.ResourcesArray()
    bundled.load_data(gzip.decompress(data))
    return {resource: bundled[resource] for resource in bundled}


@attrs.mutable
class _EmulatorServer(kmock.Server):
    """kmock.Server without its client session, access log and process-wide aiohttp DNS patch.

    That patch must be undone in LIFO order, which emulators stopping on several threads break;
    the access log would write a line per request into the project's JSON logs.
    """

    async def __aenter__(self) -> Self:
        self._managed_server = self._server_cls(self.handler, host=self._host, port=self._port)
        await self._managed_server.start_server(access_log=None)
        self.handler.servers.append(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.handler.servers.remove(self)
        assert self._managed_server is not None
        await self._managed_server.__aexit__(exc_type, exc_value, traceback)
        self._managed_server = None


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """An in-memory apiserver: kmock's discovery and HTTP server, our store, paging and watches.

    The store methods (`create_object`, `patch_object`, ...) must run on the server's event loop
    once it is serving; `RunningEmulator` wraps them for other threads.
    """

    event_window: int = 10_000
    request_log_tail: int = 100
    continue_ttl: float = 300.0
    max_snapshots: int = 64
    enforce_resource_version: bool = True
    faults: FaultInjector = attrs.field(factory=FaultInjector)

    _store: dict[kmock.resource, dict[ObjectKey, JSON]] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=0, init=False)
    _log: collections.deque[WatchEvent] = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: collections.deque(maxlen=self.event_window), True),
    )
    _compacted_rv: int = attrs.field(default=0, init=False)
    _watchers: set[_Watcher] = attrs.field(factory=set, init=False)
    _snapshots: collections.OrderedDict[str, _Snapshot] = attrs.field(
        factory=collections.OrderedDict, init=False
    )
    _kinds: dict[tuple[str, str], kmock.resource] | None = attrs.field(default=None, init=False)
    _stopping: asyncio.Event | None = attrs.field(default=None, init=False)
    _request_count: int = attrs.field(default=0, init=False)
    _watches_changed: threading.Condition = attrs.field(factory=threading.Condition, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for resource, info in _bundled_resources().items():
            self.resources[resource] = attrs.evolve(info)

    async def __aenter__(self) -> Self:
        self._stopping = asyncio.Event()
        return await super().__aenter__()

    async def _serve_version(self, request: kmock.Request) -> JSON:
        """kmock names the core group version `/v1`; apiserver says `v1`."""
        payload = await super()._serve_version(request)
        payload["groupVersion"] = payload["groupVersion"].lstrip("/")
        return payload

    async def _serve_api(self, request: kmock.Request) -> JSON:
        """`/api` with serverAddressByClientCIDRs, which the v37 client's model requires."""
        host = request.url.host or "127.0.0.1"
        port = request.url.port or 80
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host}:{port}"}
            ],
        }

    # --- registry ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out."""
        return self._rv

    def register_resource(
        self,
        group: str,
        version: str,
        plural: str,
        kind: str,
        namespaced: bool = True,
        *,
        subresources: tuple[str, ...] = ("status",),
        short_names: tuple[str, ...] = (),
        categories: tuple[str, ...] = (),
        singular: str | None = None,
    ) -> kmock.resource:
        """Make a resource servable and discoverable (what an established CRD does)."""
        resource = kmock.resource(group, version, plural)
        self.resources[resource] = kmock.ResourceInfo(
            kind=kind,
            namespaced=namespaced,
            singular=singular or kind.lower(),
            verbs=set(ALL_VERBS),
            shortnames=set(short_names),
            categories=set(categories),
            subresources=set(subresources),
        )
        self._kinds = None
        return resource

    def resource_for(self, api_version: str, kind: str) -> kmock.resource:
        """Find the resource serving a kind, as clients do through discovery."""
        if self._kinds is None:
            self._kinds = {}
            for resource in self.resources:
                info = self.resources[resource]
                if info.kind:
                    self._kinds.setdefault((api_version_of(resource), info.kind), resource)
        try:
            return self._kinds[(api_version, kind)]
        except KeyError:
            raise api_error(404, f"no resource serves kind {kind!r} in {api_version!r}") from None

    def _info(self, resource: kmock.resource) -> kmock.ResourceInfo:
        # ResourcesArray's own `in` costs ~50 µs (a runtime Protocol isinstance); read its dict.
        info = self.resources._resources.get(resource)
        if info is None:
            raise api_error(404, "the server could not find the requested resource")
        return info

    def _namespaced(self, resource: kmock.resource) -> bool:
        return self._info(resource).namespaced is not False

    def _sync_crd(self, crd: JSON, *, removed: bool = False) -> None:
        """Register (or drop) the resources a CustomResourceDefinition declares."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        if not spec.get("group") or not names.get("plural") or not names.get("kind"):
            return
        for version in spec.get("versions") or []:
            resource = kmock.resource(spec["group"], version["name"], names["plural"])
            if removed or version.get("served") is False:
                if resource in self.resources:
                    del self.resources[resource]
                self._store.pop(resource, None)
                self._kinds = None
                continue
            self.register_resource(
                spec["group"],
                version["name"],
                names["plural"],
                names["kind"],
                spec.get("scope", "Namespaced") == "Namespaced",
                subresources=tuple((version.get("subresources") or {}).keys()),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                singular=names.get("singular"),
            )

    # --- store ---------------------------------------------------------------------------

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _key(self, resource: kmock.resource, namespace: str | None, name: str) -> ObjectKey:
        if self._namespaced(resource):
            if not namespace:
                raise api_error(404, "the server could not find the requested resource")
            return (namespace, name)
        return (None, name)

    def _require(self, resource: kmock.resource, key: ObjectKey) -> JSON:
        obj = self._store.get(resource, {}).get(key)
        if obj is None:
            raise api_error(
                404,
                f'{qualified_name(resource)} "{key[1]}" not found',
                name=key[1],
                group=resource.group,
                kind=resource.plural,
            )
        return obj

    def _emit(self, resource: kmock.resource, kind: str, obj: JSON, prev: JSON | None) -> None:
        event = WatchEvent(int(obj["metadata"]["resourceVersion"]), resource, kind, obj, prev)
        if self._log.maxlen is not None and len(self._log) == self._log.maxlen:
            self._compacted_rv = self._log[0].rv
        self._log.append(event)
        for watcher in self._watchers:
            if watcher.resource == resource:
                watcher.queue.put_nowait(event)

    def compact(self) -> int:
        """Forget history as etcd compaction does: older watch RVs and continue tokens get 410."""
        self._compacted_rv = self._rv
        self._log.clear()
        self._snapshots.clear()
        return self._rv

    def get_object(self, resource: kmock.resource, namespace: str | None, name: str) -> JSON:
        """The stored object (shared and immutable: copy before changing it)."""
        return self._require(resource, self._key(resource, namespace, name))

    def create_object(
        self, resource: kmock.resource, namespace: str | None, body: Any, *, dry_run: bool = False
    ) -> JSON:
        """Create an object, stamping what apiserver sets; takes ownership of `body`."""
        info = self._info(resource)
        if not isinstance(body, dict):
            raise api_error(400, "the body of the request was in an unknown format")
        obj = dict(body)
        meta = dict(obj.get("metadata") or {})
        if self._namespaced(resource):
            if namespace and meta.get("namespace") and meta["namespace"] != namespace:
                raise api_error(
                    400,
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request",
                )
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        items = self._store.setdefault(resource, {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise api_error(422, "name or generateName is required", reason="Invalid")
            for _ in range(16):
                suffix = "".join(random.choices(NAME_SUFFIX_ALPHABET, k=5))
                meta["name"] = meta["generateName"] + suffix
                if (meta.get("namespace"), meta["name"]) not in items:
                    break
        key: ObjectKey = (meta.get("namespace"), meta["name"])
        if key in items:
            raise api_error(
                409,
                f'{qualified_name(resource)} "{key[1]}" already exists',
                reason="AlreadyExists",
                name=key[1],
                group=resource.group,
                kind=resource.plural,
            )
        if not meta.get("uid"):
            meta["uid"] = str(uuid.uuid4())
        if not meta.get("creationTimestamp"):
            meta["creationTimestamp"] = now_rfc3339()
        meta.setdefault("generation", 1)
        meta.pop("deletionTimestamp", None)
        meta["resourceVersion"] = str(self._rv if dry_run else self._next_rv())
        obj["apiVersion"] = api_version_of(resource)
        obj["kind"] = info.kind
        obj["metadata"] = meta
        if dry_run:
            return obj
        items[key] = obj
        self._emit(resource, "ADDED", obj, None)
        if resource == CRD_RESOURCE:
            self._sync_crd(obj)
        return obj

    def replace_object(
        self,
        resource: kmock.resource,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> JSON:
        """PUT: replace the object (or only its status), honouring metadata.resourceVersion."""
        key = self._key(resource, namespace, name)
        old = self._require(resource, key)
        if not isinstance(body, dict):
            raise api_error(400, "the body of the request was in an unknown format")
        new = {**old, "status": body.get("status")} if subresource == "status" else dict(body)
        if new.get("status") is None:
            new.pop("status", None)
        requested_rv = (body.get("metadata") or {}).get("resourceVersion")
        return self._commit_update(resource, key, old, new, requested_rv, dry_run=dry_run)

    def patch_object(
        self,
        resource: kmock.resource,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> JSON:
        """PATCH: a dict is a merge patch (strategic merge too), a list a JSON Patch."""
        key = self._key(resource, namespace, name)
        old = self._require(resource, key)
        if isinstance(patch, list):
            try:
                patched = jsonpatch.apply_patch(old, patch, in_place=False)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
                raise api_error(422, f"the JSON patch cannot be applied: {exc}") from exc
        elif isinstance(patch, dict):
            patched = merge_patch(old, patch)
        else:
            raise api_error(400, "the body of the request was in an unknown format")
        if not isinstance(patched, dict):
            raise api_error(422, "the patch must leave an object")
        new = patched
        if subresource == "status":
            new = {**old, "status": patched.get("status")}
            if new["status"] is None:
                new.pop("status")
        requested_rv = (patched.get("metadata") or {}).get("resourceVersion")
        return self._commit_update(resource, key, old, new, requested_rv, dry_run=dry_run)

    def _commit_update(
        self,
        resource: kmock.resource,
        key: ObjectKey,
        old: JSON,
        new: JSON,
        requested_rv: Any,
        *,
        dry_run: bool,
    ) -> JSON:
        old_meta = old["metadata"]
        if (
            self.enforce_resource_version
            and requested_rv not in (None, "")
            and str(requested_rv) != old_meta["resourceVersion"]
        ):
            raise api_error(
                409,
                f"Operation cannot be fulfilled on {qualified_name(resource)} "
                f'"{key[1]}": the object has been modified; please apply your changes to the '
                "latest version and try again",
                name=key[1],
                group=resource.group,
                kind=resource.plural,
            )
        new = dict(new)
        meta = dict(new.get("metadata") or {})
        for field_name in SERVER_OWNED_METADATA:
            if field_name in old_meta:
                meta[field_name] = old_meta[field_name]
            else:
                meta.pop(field_name, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        new["apiVersion"], new["kind"], new["metadata"] = old["apiVersion"], old["kind"], meta
        if _spec_of(new) != _spec_of(old):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if new == old:
            return old  # apiserver neither bumps resourceVersion nor emits an event for a no-op
        if dry_run:
            return new
        meta["resourceVersion"] = str(self._next_rv())
        self._store[resource][key] = new
        self._emit(resource, "MODIFIED", new, old)
        if resource == CRD_RESOURCE:
            self._sync_crd(new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(resource, key, new)
        return new

    def _remove(self, resource: kmock.resource, key: ObjectKey, obj: JSON) -> JSON:
        final = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._next_rv())}}
        del self._store[resource][key]
        self._emit(resource, "DELETED", final, obj)
        if resource == CRD_RESOURCE:
            self._sync_crd(final, removed=True)
        return final

    def delete_object(
        self,
        resource: kmock.resource,
        namespace: str | None,
        name: str,
        options: Any = None,
        *,
        dry_run: bool = False,
    ) -> JSON:
        """DELETE: gone at once, or only marked with deletionTimestamp while finalizers remain."""
        key = self._key(resource, namespace, name)
        old = self._require(resource, key)
        meta = old["metadata"]
        preconditions = (options.get("preconditions") or {}) if isinstance(options, dict) else {}
        for field_name in ("uid", "resourceVersion"):
            wanted = preconditions.get(field_name)
            if wanted and wanted != meta.get(field_name):
                raise api_error(
                    409,
                    f"Precondition failed: {field_name} in precondition: {wanted}, "
                    f"{field_name} in object meta: {meta.get(field_name)}",
                )
        if dry_run:
            return old
        if not meta.get("finalizers"):
            return self._remove(resource, key, old)
        if meta.get("deletionTimestamp"):
            return old
        marked_meta = {**meta, "deletionTimestamp": now_rfc3339(), "deletionGracePeriodSeconds": 0}
        marked_meta["resourceVersion"] = str(self._next_rv())
        marked = {**old, "metadata": marked_meta}
        self._store[resource][key] = marked
        self._emit(resource, "MODIFIED", marked, old)
        return marked

    def select(
        self,
        resource: kmock.resource,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[JSON]:
        """Stored objects of a resource in key order (as etcd returns them), filtered."""
        try:
            labels = parse_label_selector(label_selector)
            fields = parse_field_selector(field_selector)
        except ValueError as exc:
            raise api_error(400, str(exc)) from exc
        items = self._store.get(resource, {})
        keys = sorted((k for k in items if namespace is None or k[0] == namespace), key=_sort_key)
        result = []
        for key in keys:
            obj = items[key]
            if labels and not labels_match(obj["metadata"].get("labels"), labels):
                continue
            if fields and not fields_match(obj, fields):
                continue
            result.append(obj)
        return result

    def list_objects(
        self, resource: kmock.resource, namespace: str | None, params: Mapping[str, str]
    ) -> JSON:
        """LIST with `limit`/`continue` paging over a snapshot, as apiserver's consistent lists."""
        info = self._info(resource)
        try:
            limit = int(params.get("limit") or 0)
        except ValueError:
            raise api_error(400, f"invalid limit {params.get('limit')!r}") from None
        token = params.get("continue")
        if token:
            snapshot_id, start, snapshot = self._resume(resource, token)
            items, rv = snapshot.items, snapshot.rv
        else:
            items = self.select(
                resource,
                namespace,
                params.get("labelSelector", ""),
                params.get("fieldSelector", ""),
            )
            snapshot_id, start, snapshot, rv = None, 0, None, self._rv
        metadata: JSON = {"resourceVersion": str(rv)}
        end = len(items) if limit <= 0 else min(len(items), start + limit)
        if end < len(items):
            if snapshot_id is None:
                snapshot_id = uuid.uuid4().hex
                self._snapshots[snapshot_id] = _Snapshot(resource, items, rv, time.monotonic())
                while len(self._snapshots) > self.max_snapshots:
                    self._snapshots.popitem(last=False)
            payload = json.dumps({"rv": rv, "id": snapshot_id, "start": end}).encode()
            metadata["continue"] = base64.urlsafe_b64encode(payload).decode()
            metadata["remainingItemCount"] = len(items) - end
        elif snapshot_id is not None:
            self._snapshots.pop(snapshot_id, None)
        return {
            "apiVersion": api_version_of(resource),
            "kind": f"{info.kind}List",
            "metadata": metadata,
            "items": items[start:end],
        }

    def _resume(self, resource: kmock.resource, token: str) -> tuple[str, int, _Snapshot]:
        expired = api_error(410, EXPIRED_CONTINUE, reason="Expired")
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            snapshot_id, start, rv = str(decoded["id"]), int(decoded["start"]), int(decoded["rv"])
        except (ValueError, KeyError, TypeError):
            raise expired from None
        snapshot = self._snapshots.get(snapshot_id)
        if (
            snapshot is None
            or snapshot.resource != resource
            or snapshot.rv != rv
            or rv < self._compacted_rv
            or time.monotonic() - snapshot.created > self.continue_ttl
        ):
            self._snapshots.pop(snapshot_id, None)
            raise expired
        self._snapshots.move_to_end(snapshot_id)
        return snapshot_id, start, snapshot

    def expire_continue_tokens(self) -> None:
        """Make every outstanding continue token answer 410 Expired."""
        self._snapshots.clear()

    def load(self, objects: list[JSON]) -> int:
        """Create objects in order (CRDs before their custom objects); returns how many."""
        for obj in objects:
            resource = self.resource_for(obj.get("apiVersion", ""), obj.get("kind", ""))
            self.create_object(resource, (obj.get("metadata") or {}).get("namespace"), obj)
        return len(objects)

    @property
    def objects(self) -> kmock.ObjectsArray:  # type: ignore[override]
        """A kmock-style snapshot of the store, for `>=` pattern assertions."""
        view = kmock.ObjectsArray()
        for resource, items in self._store.items():
            for (namespace, name), obj in items.items():
                view[resource, namespace, name] = obj
        return view

    # --- HTTP ----------------------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Serve one HTTP request: faults first, then resources here and discovery via kmock."""
        body = await raw.read()
        params = dict(raw.query)
        is_watch = params.get("watch", "").lower() in ("true", "1")
        fault = self.faults.take(raw.method, raw.path, is_watch)
        if fault is not None and fault.delay:
            await self._pause(fault.delay)
        if fault is not None and fault.status is not None:
            message = fault.message or f"injected fault: {fault.status}"
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else None
            return _status_response(api_error(fault.status, message), headers=headers)
        target = parse_target(raw.path)
        if target is None:
            if raw.path != "/" and raw.path.endswith("/"):
                # The v37 client asks for /version/, /apis/, /api/v1/...; kmock routes bare paths.
                raw = raw.clone(rel_url=raw.rel_url.with_path(raw.path.rstrip("/")))
            response = await super().__call__(raw)
            self._trim_logs(with_reactions=True)
            return response
        data: Any = None
        malformed = False
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                malformed = True
        self._record(raw, target, params, body, data, is_watch)
        try:
            if malformed:
                if "yaml" in raw.content_type:
                    raise api_error(415, f"the emulator does not accept {raw.content_type}")
                raise api_error(400, "the body of the request was not valid JSON")
            return await self._serve(raw, target, params, data, is_watch, fault)
        except kmock.KubernetesError as exc:
            return _status_response(exc)
        except Exception as exc:
            logger.exception("kube emulator failed on %s %s", raw.method, raw.path_qs)
            return _status_response(api_error(500, repr(exc)))

    def _record(
        self,
        raw: aiohttp.web.BaseRequest,
        target: Target,
        params: dict[str, str],
        body: bytes,
        data: Any,
        is_watch: bool,
    ) -> None:
        """Keep a short tail of requests: kmock rescans its whole log on every request."""
        action = _ACTIONS.get(raw.method)
        if raw.method == "GET" and is_watch:
            action = kmock.action.WATCH
        elif raw.method == "GET" and target.name:
            action = kmock.action.FETCH
        self._request_count += 1
        self._requests.append(
            kmock.Request(
                id=self._request_count,
                method=raw.method,
                url=raw.url,
                params=params,
                headers=dict(raw.headers),
                body=body,
                text=body.decode("utf-8", errors="replace"),
                data=data,
                action=action,
                resource=target.resource,
                namespace=target.namespace,
                name=target.name,
                subresource=target.subresource,
            )
        )
        self._trim_logs(with_reactions=False)

    def _trim_logs(self, *, with_reactions: bool) -> None:
        tail = self.request_log_tail
        if len(self._requests) > 2 * tail:
            del self._requests[:-tail]
        if with_reactions:
            for reaction in self._payloads:
                if len(reaction._requests) > 2 * tail:
                    del reaction._requests[:-tail]

    async def _pause(self, seconds: float) -> None:
        """Hold a request (an injected delay) but let shutdown cut it short."""
        if self._stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _serve(
        self,
        raw: aiohttp.web.BaseRequest,
        target: Target,
        params: dict[str, str],
        data: Any,
        is_watch: bool,
        fault: Fault | None,
    ) -> aiohttp.web.StreamResponse:
        resource = target.resource
        self._info(resource)
        if target.namespace and not self._namespaced(resource):
            raise api_error(404, "the server could not find the requested resource")
        if target.subresource not in (None, "status"):
            raise api_error(
                404, f"the emulator does not serve the {target.subresource!r} subresource"
            )
        namespace, name, method = target.namespace, target.name, raw.method
        dry_run = bool(params.get("dryRun"))
        if method == "GET" and is_watch:
            return await self._serve_watch(raw, target, params, fault)
        if method == "GET" and name is None:
            return _json_response(self.list_objects(resource, namespace, params))
        if method == "GET" and name is not None:
            return _json_response(self.get_object(resource, namespace, name))
        if method == "POST" and name is None:
            created = self.create_object(resource, namespace, data, dry_run=dry_run)
            return _json_response(created, status=201)
        if method == "PUT" and name is not None:
            replaced = self.replace_object(
                resource, namespace, name, data, subresource=target.subresource, dry_run=dry_run
            )
            return _json_response(replaced)
        if method == "PATCH" and name is not None:
            if "apply-patch" in raw.content_type:
                return self._apply(target, data, dry_run=dry_run)
            patched = self.patch_object(
                resource, namespace, name, data, subresource=target.subresource, dry_run=dry_run
            )
            return _json_response(patched)
        if method == "DELETE" and name is not None:
            deleted = self.delete_object(resource, namespace, name, data, dry_run=dry_run)
            return _json_response(deleted)
        if method == "DELETE":
            labels, fields = params.get("labelSelector", ""), params.get("fieldSelector", "")
            doomed = [obj["metadata"] for obj in self.select(resource, namespace, labels, fields)]
            gone = [self.delete_object(resource, m.get("namespace"), m["name"]) for m in doomed]
            info = self._info(resource)
            return _json_response(
                {
                    "apiVersion": api_version_of(resource),
                    "kind": f"{info.kind}List",
                    "metadata": {"resourceVersion": str(self._rv)},
                    "items": gone,
                }
            )
        raise api_error(405, f"{method} is not supported on {raw.path}")

    def _apply(self, target: Target, data: Any, *, dry_run: bool) -> aiohttp.web.Response:
        """Server-side apply, approximated: create when missing, else merge (no field ownership)."""
        resource, namespace, name = target.resource, target.namespace, str(target.name)
        if not isinstance(data, dict):
            raise api_error(400, "the body of the request was in an unknown format")
        try:
            self._require(resource, self._key(resource, namespace, name))
        except ApiError as exc:
            if exc.status != 404 or target.subresource:
                raise
            body = {**data, "metadata": {**(data.get("metadata") or {}), "name": name}}
            created = self.create_object(resource, namespace, body, dry_run=dry_run)
            return _json_response(created, status=201)
        patched = self.patch_object(
            resource, namespace, name, data, subresource=target.subresource, dry_run=dry_run
        )
        return _json_response(patched)

    async def _serve_watch(
        self,
        raw: aiohttp.web.BaseRequest,
        target: Target,
        params: dict[str, str],
        fault: Fault | None,
    ) -> aiohttp.web.StreamResponse:
        resource = target.resource
        info = self._info(resource)
        try:
            labels = parse_label_selector(params.get("labelSelector", ""))
            fields = parse_field_selector(params.get("fieldSelector", ""))
            timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        except ValueError as exc:
            raise api_error(400, str(exc)) from exc
        watcher = _Watcher(resource, target.namespace, target.name, labels, fields)
        since_text = params.get("resourceVersion") or ""
        initial: list[tuple[str, JSON]] = []
        gone: str | None = None
        if fault is not None and fault.gone:
            gone = fault.message or f"too old resource version: {since_text or 0} (injected)"
        elif since_text not in ("", "0"):
            try:
                watcher.since = int(since_text)
            except ValueError:
                raise api_error(400, f"invalid resourceVersion {since_text!r}") from None
            if watcher.since < self._compacted_rv:
                gone = f"too old resource version: {watcher.since} ({self._compacted_rv})"
            else:
                replay = []
                for event in reversed(self._log):
                    if event.rv <= watcher.since:
                        break
                    replay.append(event)
                for event in reversed(replay):
                    if (seen := watcher.translate(event)) is not None:
                        initial.append(seen)
        else:
            for obj in self.select(resource, target.namespace):
                if watcher.matches(obj):
                    initial.append(("ADDED", obj))
        if gone is not None:
            initial = [("ERROR", status_body(api_error(410, gone, reason="Expired")))]
        else:
            # Registered with no await since the replay was built, so no event falls in between.
            watcher.last_rv = self._rv
            self._watchers.add(watcher)
            self._notify_watches()

        response = aiohttp.web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
        )
        response.enable_chunked_encoding()
        drop_after = fault.drop_after if fault is not None else None
        sent = 0
        try:
            await response.prepare(raw)
            dropped = drop_after is not None and drop_after <= 0
            for kind, obj in initial:
                if dropped:
                    break
                await response.write(_event_line(kind, obj))
                sent += 1
                dropped = drop_after is not None and sent >= drop_after
            timed_out = False
            if gone is None and not dropped:
                timed_out, dropped = await self._stream_live(
                    response, watcher, timeout, drop_after, sent
                )
            if dropped and fault is not None and fault.abort:
                if raw.transport is not None:
                    raw.transport.abort()
                return response
            if timed_out and params.get("allowWatchBookmarks", "").lower() == "true":
                bookmark = {
                    "kind": info.kind,
                    "apiVersion": api_version_of(resource),
                    "metadata": {"resourceVersion": str(watcher.last_rv)},
                }
                await response.write(_event_line("BOOKMARK", bookmark))
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away; nothing to tell it
        finally:
            self._watchers.discard(watcher)
            self._notify_watches()
        return response

    async def _stream_live(
        self,
        response: aiohttp.web.StreamResponse,
        watcher: _Watcher,
        timeout: float | None,
        drop_after: int | None,
        sent: int,
    ) -> tuple[bool, bool]:
        """Relay live events until timeout, drop or shutdown; returns (timed out, dropped)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            try:
                if deadline is None:
                    event = await watcher.queue.get()
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return True, False
                    event = await asyncio.wait_for(watcher.queue.get(), remaining)
            except TimeoutError:
                return True, False
            if event is None:
                return False, False
            watcher.last_rv = max(watcher.last_rv, event.rv)
            seen = watcher.translate(event)
            if seen is None:
                continue
            await response.write(_event_line(*seen))
            sent += 1
            if drop_after is not None and sent >= drop_after:
                return False, True

    def _notify_watches(self) -> None:
        with self._watches_changed:
            self._watches_changed.notify_all()

    @property
    def open_watches(self) -> int:
        """How many watch streams are open right now."""
        return len(self._watchers)

    def wait_for_watches(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block (from any thread but the loop's) until at least `count` watches are open."""
        with self._watches_changed:
            return self._watches_changed.wait_for(lambda: len(self._watchers) >= count, timeout)

    def end_watches(self) -> None:
        """End every open watch stream cleanly, as an apiserver restart would."""
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)

    def close_watches(self) -> None:
        """End every open watch stream and injected delay, so the server can shut down."""
        if self._stopping is not None:
            self._stopping.set()
        self.end_watches()


# --- running on a thread ---------------------------------------------------------------------


class RunningEmulator:
    """A KubeEmulator served on its own loop and daemon thread, with synchronous helpers."""

    def __init__(self, emulator: KubeEmulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.url = ""
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def faults(self) -> FaultInjector:
        """The fault injector of the served emulator."""
        return self.emulator.faults

    @property
    def resource_version(self) -> str:
        """The newest resourceVersion, as clients see it."""
        return str(self.emulator.resource_version)

    def start(self) -> None:
        """Start serving and return once the URL is known."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="kube-emulator", daemon=True
        )
        self._thread.start()
        ready.wait(timeout=30)
        if self._error is not None:
            self._thread.join(timeout=5)
            raise RuntimeError("the Kubernetes emulator failed to start") from self._error
        if not self.url:
            raise RuntimeError("the Kubernetes emulator did not start within 30 s")

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:
            self._error = exc
        finally:
            ready.set()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        server = _EmulatorServer(self.emulator, host=self._host, port=self._port)
        async with self.emulator, server:
            self.url = str(server.url).rstrip("/")
            ready.set()
            await self._stop.wait()
            self.emulator.close_watches()

    def stop(self) -> None:
        """End watch streams, stop the server and loop, and join the thread."""
        if self._thread is None or self._loop is None:
            return
        if self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            raise RuntimeError("the Kubernetes emulator thread did not stop within 30 s")
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a function on the emulator's loop (where the store lives) and return its result."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or threading.current_thread() is thread:
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def api_client(self, **settings: Any) -> kubernetes.client.ApiClient:
        """An official-client ApiClient pointed at this emulator (`retries=False`, ...).

        By default urllib3 retries a 429 or 503 that carries Retry-After (up to 3 times), so
        injected 429s are absorbed unless the client is built with `retries=False`.
        """
        from kubernetes import client

        configuration = client.Configuration(host=self.url)
        for name, value in settings.items():
            if not hasattr(configuration, name):
                raise TypeError(f"kubernetes Configuration has no setting {name!r}")
            setattr(configuration, name, value)
        return client.ApiClient(configuration)

    def _resource(self, api_version: str, kind: str) -> kmock.resource:
        return self.call(self.emulator.resource_for, api_version, kind)

    def create(self, obj: Mapping[str, Any]) -> JSON:
        """Create an object as a client would (stamped, 409 if it exists, ADDED emitted)."""
        body = copy.deepcopy(dict(obj))
        resource = self._resource(body.get("apiVersion", ""), body.get("kind", ""))
        namespace = (body.get("metadata") or {}).get("namespace")
        created = self.call(self.emulator.create_object, resource, namespace, body)
        return copy.deepcopy(created)

    def replace(self, obj: Mapping[str, Any]) -> JSON:
        """Replace an object (PUT); a stale metadata.resourceVersion raises a 409 ApiError."""
        body = copy.deepcopy(dict(obj))
        resource = self._resource(body.get("apiVersion", ""), body.get("kind", ""))
        meta = body.get("metadata") or {}
        replaced = self.call(
            self.emulator.replace_object, resource, meta.get("namespace"), meta.get("name"), body
        )
        return copy.deepcopy(replaced)

    def apply(self, obj: Mapping[str, Any]) -> JSON:
        """Create the object, or replace it when it already exists."""
        try:
            return self.create(obj)
        except ApiError as exc:
            if exc.status != 409:
                raise
        body = copy.deepcopy(dict(obj))
        body.setdefault("metadata", {}).pop("resourceVersion", None)
        return self.replace(body)

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any] | list[Any],
        *,
        subresource: str | None = None,
    ) -> JSON:
        """Merge-patch (dict) or JSON-patch (list) an object; emits MODIFIED when it changes."""
        resource = self._resource(api_version, kind)
        patched = self.call(
            self.emulator.patch_object,
            resource,
            namespace,
            name,
            copy.deepcopy(patch),
            subresource=subresource,
        )
        return copy.deepcopy(patched)

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> JSON:
        """Delete an object (or mark it while finalizers remain); emits DELETED or MODIFIED."""
        resource = self._resource(api_version, kind)
        deleted = self.call(self.emulator.delete_object, resource, namespace, name)
        return copy.deepcopy(deleted)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> JSON | None:
        """The object, or None when it does not exist."""
        resource = self._resource(api_version, kind)
        try:
            found = self.call(self.emulator.get_object, resource, namespace, name)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return copy.deepcopy(found)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str = "",
    ) -> list[JSON]:
        """Objects of a kind, in key order, optionally in one namespace and label-selected."""
        resource = self._resource(api_version, kind)
        found = self.call(self.emulator.select, resource, namespace, label_selector)
        return copy.deepcopy(found)

    def load(self, objects: list[JSON]) -> int:
        """Create many objects in order; returns how many."""
        return self.call(self.emulator.load, copy.deepcopy(objects))

    def register_crd(
        self,
        group: str,
        version: str,
        plural: str,
        kind: str,
        namespaced: bool = True,
        *,
        short_names: tuple[str, ...] = (),
    ) -> JSON:
        """Install a CustomResourceDefinition (adding a version to an existing one) and serve it."""
        return self.call(
            install_crd, self.emulator, group, version, plural, kind, namespaced, short_names
        )

    def compact(self) -> str:
        """Forget history: older watch resourceVersions and continue tokens now get 410."""
        return str(self.call(self.emulator.compact))

    def expire_continue_tokens(self) -> None:
        """Make outstanding continue tokens answer 410 Expired."""
        self.call(self.emulator.expire_continue_tokens)

    def wait_for_watches(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until a client's watch is registered, so events made next reach it live."""
        return self.emulator.wait_for_watches(count, timeout)

    def end_watches(self) -> None:
        """End every open watch stream cleanly; clients without a timeout reconnect."""
        self.call(self.emulator.end_watches)

    def write_kubeconfig(self, path: str | Path, context: str = "emulator") -> Path:
        """Write a kubeconfig whose current context points at this emulator."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": "emulator"}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": context, "namespace": "default"},
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target


def install_crd(
    emulator: KubeEmulator,
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short_names: tuple[str, ...] = (),
) -> JSON:
    """Create (or extend with a version) the CRD object, which registers the resource."""
    name = f"{plural}.{group}"
    version_spec = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
        "subresources": {"status": {}},
    }
    try:
        existing = emulator.get_object(CRD_RESOURCE, None, name)
    except ApiError:
        existing = None
    if existing is not None:
        versions = [v for v in existing["spec"]["versions"] if v["name"] != version]
        versions = [{**v, "storage": False} for v in versions] + [version_spec]
        return emulator.patch_object(CRD_RESOURCE, None, name, {"spec": {"versions": versions}})
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": list(short_names),
            },
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [version_spec],
        },
        "status": {
            "acceptedNames": {"kind": kind, "plural": plural},
            "conditions": [
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}
            ],
            "storedVersions": [version],
        },
    }
    return emulator.create_object(CRD_RESOURCE, None, crd)


@contextlib.contextmanager
def running_emulator(
    seed: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> Iterator[RunningEmulator]:
    """Serve a fresh emulator for one block, optionally seeded (`demo`, `bench:N`, a YAML path)."""
    from .seed import load_seed

    emulator = KubeEmulator(**options)
    if seed:
        load_seed(emulator, seed)
    running = RunningEmulator(emulator, host=host, port=port)
    running.start()
    try:
        yield running
    finally:
        running.stop()
