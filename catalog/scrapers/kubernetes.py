"""The `kubernetes` scraper: every listable kind of a live cluster, paged, plus Events as changes.

Entry fields: `clusterName` (required); `kubeconfig` + `context`, or
`connection`, or neither (the in-cluster service account); `namespaces[]` (globs, `!` excludes);
`selector` / `fieldSelector` (sent to the apiserver, not applied to Events); `exclusions
{kinds[], namespaces[], names[], labels{}}`; `events {exclude[], severity{}}`; `watch[]` (kinds the
watcher follows, catalog/watcher.py); `tags`; `transform`.

`exclusions.kinds` *replaces* DEFAULT_EXCLUDED_KINDS, so an entry that wants Endpoints listed
writes `exclusions: {kinds: [Lease]}`. A pattern is a glob over the kind (`Lease`) or over
`<group>/<kind>` (`metrics.k8s.io/*`, core is `core/Pod`). Events are never items whatever the
exclusions say: they become ConfigChange rows on the object they are about. `exclusions.labels`
skips an object when any one of its pairs matches (values are globs); `names` are globs over the
name, or over `namespace/name` when the pattern has a `/`.
"""

import fnmatch
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import urllib3
from django.db import transaction

from catalog.diff import canonical_json
from catalog.identity import kubernetes_alias
from catalog.masking import apply_transforms
from catalog.scrapers import k8s_objects
from catalog.scrapers.base import Problem, ScrapeContext, ScrapedItem
from portal.errors import ExpressionError, FlightdeckError, ScrapeError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration

log = logging.getLogger("flightdeck.scrape.kubernetes")

PAGE_SIZE = 500
# (connect, read) seconds for one LIST page or discovery document.
REQUEST_TIMEOUT = (10, 60)
THROTTLE_RETRIES = 3
MAX_RETRY_AFTER = 30.0
IGNORE_ANNOTATION = "flightdeck.dev/ignore"
DEFAULT_EXCLUDED_KINDS = ("Event", "Lease", "EndpointSlice", "Endpoints", "ControllerRevision",
                          "ComponentStatus")
DEFAULT_WATCH_KINDS = ("Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                       "CronJob", "Node")
EVENT_GROUPS = ("", "events.k8s.io")
EVENT_SEVERITIES = ("critical", "high", "medium", "low", "info")
# Fields that move on every heartbeat or write without the object changing.
NOISY_CONDITION_FIELDS = ("lastHeartbeatTime", "lastProbeTime")
GLOB_CHARS = frozenset("*?[")
# An Event as a change: (the involved object's id, or its alias), ChangeInput kwargs.
EventChange = tuple[uuid.UUID | str, dict[str, Any]]


# -- talking to the apiserver -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiResource:
    """One served, listable and watchable resource, as discovery reports it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def is_event(self) -> bool:
        return self.kind == "Event" and self.group in EVENT_GROUPS

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class KubeApi:
    """Raw JSON over the official client's ApiClient: no model (de)serialisation per object."""

    def __init__(self, api_client: "ApiClient",
                 stop: threading.Event | None = None) -> None:
        self.client = api_client
        self.stop = stop or threading.Event()

    def close(self) -> None:
        self.client.close()

    def request(self, path: str, query: Mapping[str, Any] | None = None, *,
                timeout: Any = REQUEST_TIMEOUT) -> Any:
        """The urllib3 response (body not read); ApiException on any non-2xx status."""
        method, url, headers, body, post = self.client.param_serialize(
            "GET", path, query_params=list((query or {}).items()),
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
        )
        response = self.client.call_api(method, url, headers, body, post,
                                        _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise api_exception()(http_resp=response)
        return response.response

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One JSON document; 429 is retried THROTTLE_RETRIES times, honouring Retry-After."""
        attempt = 0
        while True:
            try:
                raw = self.request(path, query)
                try:
                    return orjson.loads(raw.data)
                finally:
                    raw.release_conn()
            except api_exception() as exc:
                if exc.status != 429 or attempt >= THROTTLE_RETRIES or self.stop.is_set():
                    raise
                attempt += 1
                delay = min(_retry_after(exc) or 0.5 * 2 ** attempt, MAX_RETRY_AFTER)
                log.info("throttled, retrying", extra={"path": path, "delay": delay})
                self.stop.wait(delay)

    def watch_call(self, path: str, **kwargs: Any) -> Any:
        """The function kubernetes.watch.Watch().stream() calls: its kwargs become the query.

        Annotated `Any` with no `:rtype:` on purpose, so Watch yields raw dicts, not models.
        """
        names = {"resource_version": "resourceVersion", "timeout_seconds": "timeoutSeconds",
                 "label_selector": "labelSelector", "field_selector": "fieldSelector",
                 "allow_watch_bookmarks": "allowWatchBookmarks", "watch": "watch"}
        query = {names[k]: v for k, v in kwargs.items() if k in names and v not in (None, "")}
        return self.request(path, query, timeout=kwargs.get("_request_timeout"))


def _retry_after(exc: Any) -> float | None:
    try:
        value = (exc.headers or {}).get("Retry-After")
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def failure(exc: BaseException) -> str:
    """A one-line reason for a failed request, with the apiserver's own message when it sent one."""
    if isinstance(exc, api_exception()):
        message = ""
        try:
            message = orjson.loads(exc.body or b"{}").get("message", "")
        except (orjson.JSONDecodeError, AttributeError):
            message = (exc.body or "")[:200] if isinstance(exc.body, str) else ""
        return f"HTTP {exc.status} {exc.reason or ''}".strip() + (f": {message}" if message else "")
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return "request timed out"
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return f"connection failed: {exc.__class__.__name__}"
    return f"{exc.__class__.__name__}: {exc}"


def api_exception() -> type[Exception]:
    """Imported on use: `import kubernetes` costs ~2.5 s and every Django process loads this."""
    from kubernetes.client.exceptions import ApiException

    return ApiException


def request_errors() -> tuple[type[BaseException], ...]:
    """What one request to the apiserver can raise: an HTTP status, or a transport failure."""
    return (api_exception(), urllib3.exceptions.HTTPError, OSError)


def connect(entry: Mapping[str, Any], stop: threading.Event | None = None,
            namespace: str = "default") -> KubeApi:
    """kubeconfig + context, else a connection reference, else the in-cluster service account.

    `namespace` is the ScrapeConfig's: relative references and connection sharing use it.
    """
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    configuration = k8s_client.Configuration()
    try:
        if entry.get("kubeconfig"):
            k8s_config.load_kube_config(
                config_file=str(entry["kubeconfig"]), context=entry.get("context") or None,
                client_configuration=configuration, persist_config=False,
            )
        elif entry.get("connection"):
            configuration = _connection_configuration(str(entry["connection"]), namespace)
        else:
            k8s_config.load_incluster_config(client_configuration=configuration)
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        raise ScrapeError(f"cannot load cluster credentials: {exc}") from exc
    except FlightdeckError as exc:  # connections' failures name the reference, never a secret
        raise ScrapeError(str(exc)) from exc
    # The watcher holds one streaming connection per kind; urllib3 defaults to 5 per CPU.
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, 32)
    return KubeApi(k8s_client.ApiClient(configuration), stop)


def _connection_configuration(ref: str, namespace: str) -> "Configuration":
    try:
        from connections.resolve import kubernetes_configuration
    except ImportError:
        raise ScrapeError(
            f"connection {ref!r}: connections are not yet supported; use kubeconfig and context, "
            "or run in the cluster with a service account"
        ) from None
    return kubernetes_configuration(ref, namespace)


def discover(api: KubeApi) -> tuple[list[ApiResource], list[str]]:
    """Every served kind (CRDs included) that supports list and watch, preferred versions only.

    Returns the resources and the groups whose discovery failed (their kinds are unknown).
    """
    failed: list[str] = []
    documents: list[tuple[str, str, dict[str, Any]]] = []
    documents.append(("", "v1", api.get("/api/v1")))
    for group in api.get("/apis").get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion") or (
            (group.get("versions") or [{}])[0].get("groupVersion"))
        if not preferred:
            continue
        try:
            documents.append((group["name"], preferred.split("/", 1)[-1],
                              api.get(f"/apis/{preferred}")))
        except request_errors() as exc:
            failed.append(f"{preferred}: {failure(exc)}")
    resources: list[ApiResource] = []
    for group, version, doc in documents:
        for r in doc.get("resources") or []:
            verbs = set(r.get("verbs") or ())
            if "/" in r.get("name", "") or not {"list", "watch"} <= verbs:
                continue
            resources.append(ApiResource(group, version, r["name"], r["kind"],
                                         bool(r.get("namespaced"))))
    # The same Events are served by core/v1 and events.k8s.io: read them once, from core.
    events = [r for r in resources if r.is_event]
    if len(events) > 1:
        resources = [r for r in resources if not r.is_event or r.group == ""]
    return resources, failed


# -- what an entry selects ---------------------------------------------------------------------


def _glob(value: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, str(p)) for p in patterns)


@dataclass
class EntrySettings:
    """A parsed `kubernetes[]` entry: what to read, what to skip, how to map."""

    cluster: str
    tags: dict[str, str]
    transform: Mapping[str, Any] | None
    include_namespaces: list[str]
    exclude_namespaces: list[str]
    excluded_kinds: list[str]
    excluded_names: list[str]
    excluded_labels: dict[str, str]
    selector: str
    field_selector: str
    event_severity: dict[str, str]
    event_excludes: list[Mapping[str, Any]]
    watch: list[tuple[str, str]]
    relationship_rules: bool = False
    where: str = "kubernetes"

    @classmethod
    def parse(cls, entry: Mapping[str, Any], where: str = "kubernetes",
              spec_tags: Mapping[str, Any] | None = None) -> "EntrySettings":
        exclusions = entry.get("exclusions") or {}
        namespaces = [str(n) for n in entry.get("namespaces") or []]
        severity: dict[str, str] = {}
        for level, reasons in ((entry.get("events") or {}).get("severity") or {}).items():
            for reason in reasons or []:
                severity[str(reason)] = str(level)
        kinds = exclusions.get("kinds")
        watch = [(str(w.get("apiVersion") or ""), str(w.get("kind") or ""))
                 for w in entry.get("watch") or [] if isinstance(w, Mapping)]
        cluster = str(entry.get("clusterName") or "")
        tags = {str(k): str(v) for k, v in {**(spec_tags or {}), **(entry.get("tags") or {})}
                .items() if not (isinstance(v, str) and v.startswith("="))}
        tags["cluster"] = cluster
        return cls(
            cluster=cluster,
            tags=tags,
            transform=entry.get("transform"),
            include_namespaces=[n for n in namespaces if not n.startswith("!")],
            exclude_namespaces=[n[1:] for n in namespaces if n.startswith("!")]
            + [str(n) for n in exclusions.get("namespaces") or []],
            excluded_kinds=list(DEFAULT_EXCLUDED_KINDS if kinds is None else map(str, kinds)),
            excluded_names=[str(n) for n in exclusions.get("names") or []],
            excluded_labels={str(k): str(v) for k, v in (exclusions.get("labels") or {}).items()},
            selector=str(entry.get("selector") or ""),
            field_selector=str(entry.get("fieldSelector") or ""),
            event_severity=severity,
            event_excludes=[e for e in (entry.get("events") or {}).get("exclude") or []
                            if isinstance(e, Mapping)],
            watch=watch or [("", kind) for kind in DEFAULT_WATCH_KINDS],
            relationship_rules=bool((entry.get("transform") or {}).get("relationships")),
            where=where,
        )

    # Kinds --------------------------------------------------------------------------------

    def kind_allowed(self, resource: ApiResource) -> bool:
        if resource.is_event:
            return True  # always read: they become changes, never items
        qualified = f"{resource.group or 'core'}/{resource.kind}"
        return not any(
            fnmatch.fnmatchcase(qualified if "/" in p else resource.kind, p)
            for p in self.excluded_kinds
        )

    def watched(self, resource: ApiResource) -> bool:
        """Whether the watcher follows this kind (Events always: they are the change feed)."""
        if resource.is_event:
            return True
        # Matched by group, not version: discovery reads each group's preferred version.
        return self.kind_allowed(resource) and any(
            kind == resource.kind and (not api_version or api_version.rpartition("/")[0]
                                       == resource.group)
            for api_version, kind in self.watch
        )

    # Namespaces and objects ---------------------------------------------------------------

    def namespace_allowed(self, namespace: str) -> bool:
        if not namespace:
            return True
        if self.include_namespaces and not _glob(namespace, self.include_namespaces):
            return False
        return not _glob(namespace, self.exclude_namespaces)

    def scopes(self, resource: ApiResource) -> list[str | None]:
        """Literal namespace lists are read per namespace (namespace-scoped RBAC works)."""
        literal = self.include_namespaces and not any(
            GLOB_CHARS & set(n) for n in self.include_namespaces)
        if resource.namespaced and literal:
            return [n for n in dict.fromkeys(self.include_namespaces)
                    if not _glob(n, self.exclude_namespaces)]
        return [None]

    def query(self, resource: ApiResource) -> dict[str, str]:
        if resource.is_event:
            return {}
        query = {}
        if self.selector:
            query["labelSelector"] = self.selector
        if self.field_selector:
            query["fieldSelector"] = self.field_selector
        return query

    def object_allowed(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if str((meta.get("annotations") or {}).get(IGNORE_ANNOTATION, "")).lower() == "true":
            return False
        name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
        scope = name if obj.get("kind") == "Namespace" else namespace
        if not self.namespace_allowed(scope):
            return False
        for pattern in self.excluded_names:
            if fnmatch.fnmatchcase(f"{namespace}/{name}" if "/" in pattern else name, pattern):
                return False
        labels = meta.get("labels") or {}
        return not any(key in labels and fnmatch.fnmatchcase(str(labels[key]), value)
                       for key, value in self.excluded_labels.items())

    # Mapping --------------------------------------------------------------------------------

    def item(self, obj: dict[str, Any], resource: ApiResource, ctx: ScrapeContext,
             problems: list[Problem] | None = None) -> ScrapedItem | None:
        """One object -> a masked, noise-free item, or None when the entry skips it."""
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
        if not self.object_allowed(obj):
            return None
        item = k8s_objects.to_item(clean(obj), self.cluster, ctx.agent_id, tags=self.tags)
        item.config = apply_transforms(item.type, item.config, self.transform)
        if self.relationship_rules:
            from catalog.scrapers.files import _cel_relationships

            try:
                item.relationships += _cel_relationships({"transform": self.transform}, item,
                                                         item.config, ctx)
            except ExpressionError as exc:
                if problems is not None:
                    problems.append(Problem(self.where, f"relationship expression failed: {exc}",
                                            _locator(obj)))
        size = len(canonical_json(item.config))
        if size > ctx.max_document_bytes:
            item.truncated = True
            if problems is not None:
                problems.append(Problem(
                    self.where, f"object is {size} bytes, over the {ctx.max_document_bytes}-byte "
                    "limit: stored truncated, without a diff", _locator(obj), level="warning"))
        return item

    def cluster_item(self, ctx: ScrapeContext) -> ScrapedItem:
        return k8s_objects.cluster_item(self.cluster, ctx.agent_id, self.tags)

    # Events ---------------------------------------------------------------------------------

    def event_change(self, event: Mapping[str, Any]) -> EventChange | None:
        """A core/v1 or events.k8s.io/v1 Event -> (involved object, ChangeInput kwargs).

        The object is its id (the uid), or its alias when the uid is not a UUID: kubelet
        reports Node events with the node's name as uid.
        """
        meta = event.get("metadata") or {}
        involved = event.get("involvedObject") or event.get("regarding") or {}
        reason = str(event.get("reason") or "Event")
        namespace = str(involved.get("namespace") or meta.get("namespace") or "")
        name = str(involved.get("name") or "")
        target: uuid.UUID | str
        try:
            target = uuid.UUID(str(involved.get("uid")))
        except ValueError:
            if not name or not involved.get("kind"):
                return None
            scoped = "" if involved.get("kind") in k8s_objects.CLUSTER_SCOPED else namespace
            target = kubernetes_alias(self.cluster, str(involved["kind"]), scoped, name)
        for rule in self.event_excludes:
            checks = [(rule.get("reason"), reason), (rule.get("namespace"), namespace),
                      (rule.get("name"), name)]
            if any(p is not None for p, _ in checks) and all(
                    p is None or fnmatch.fnmatchcase(v, str(p)) for p, v in checks):
                return None
        type_ = str(event.get("type") or "Normal")
        severity = self.event_severity.get(reason) or ("medium" if type_ == "Warning" else "info")
        if severity not in EVENT_SEVERITIES:
            severity = "info"
        series = event.get("series") or {}
        count = int(event.get("count") or series.get("count") or event.get("deprecatedCount")
                    or 1)
        source = event.get("source") or event.get("deprecatedSource") or {}
        if not source and event.get("reportingController"):
            source = {"component": event["reportingController"]}
        last = (event.get("lastTimestamp") or series.get("lastObservedTime")
                or event.get("deprecatedLastTimestamp") or event.get("eventTime")
                or meta.get("creationTimestamp"))
        message = str(event.get("message") or event.get("note") or "")
        return target, {
            "change_type": reason[:100],
            "severity": severity,
            "source": "kubernetes/event",
            "summary": message.splitlines()[0] if message else reason,
            "details": {
                "kind": "Event/v1", "reason": reason, "type": type_, "count": count,
                "message": message, "source": source,
                "involvedObject": {k: involved.get(k) for k in
                                   ("apiVersion", "kind", "namespace", "name", "uid")},
                "firstTimestamp": event.get("firstTimestamp") or event.get("eventTime"),
                "lastTimestamp": last,
            },
            "external_change_id": str(meta.get("uid") or "") or None,
            "count": max(count, 1),
            "created_at": k8s_objects.parse_time(last),
        }


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """Drops what changes without the object changing, so it is not a diff (keeps generation)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()
            if k not in ("resourceVersion", "managedFields")}
    out = {**obj, "metadata": meta}
    status = obj.get("status")
    if isinstance(status, Mapping) and isinstance(status.get("conditions"), list):
        out["status"] = {**status, "conditions": [
            {k: v for k, v in c.items() if k not in NOISY_CONDITION_FIELDS}
            if isinstance(c, Mapping) else c for c in status["conditions"]]}
    return out


def _locator(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


# -- listing -----------------------------------------------------------------------------------


class ListFailed(Exception):
    """A LIST stopped before its last page: what was read stays, nothing may be stale-deleted."""


@dataclass
class ListResult:
    resource_version: str = ""
    count: int = 0


def list_objects(api: KubeApi, resource: ApiResource, namespace: str | None,
                 query: Mapping[str, str], result: ListResult | None = None,
                 ) -> Iterator[dict[str, Any]]:
    """Paged LIST (limit/continue): one page in memory at a time; ListFailed on any failure."""
    result = result if result is not None else ListResult()
    token = ""
    page_no = 0
    while True:
        params: dict[str, Any] = {**query, "limit": PAGE_SIZE}
        if token:
            params["continue"] = token
        try:
            page = api.get(resource.path(namespace), params)
        except request_errors() as exc:
            where = f" after {result.count} objects (page {page_no + 1})" if page_no else ""
            raise ListFailed(f"LIST {resource.path(namespace)} failed{where}: "
                             f"{failure(exc)}") from exc
        page_no += 1
        meta = page.get("metadata") or {}
        result.resource_version = str(meta.get("resourceVersion") or result.resource_version)
        for obj in page.get("items") or []:
            result.count += 1
            yield obj
        token = meta.get("continue") or ""
        if not token:
            return


def split_stored(changes: Sequence[EventChange]) -> tuple[
    list[tuple[uuid.UUID, dict[str, Any]]], list[tuple[uuid.UUID, dict[str, Any]]]
]:
    """Changes whose object is stored (ready to record), and those waiting for their item.

    Alias targets are looked up among live items; one that is not stored is dropped.
    """
    from catalog.models import ConfigItem

    ids = list({t for t, _ in changes if isinstance(t, uuid.UUID)})
    aliases = list({t for t, _ in changes if isinstance(t, str)})
    stored = set(ConfigItem.objects.filter(id__in=ids).values_list("id", flat=True)) if ids \
        else set()
    by_alias: dict[str, uuid.UUID] = {}
    if aliases:
        for item_id, external_ids in ConfigItem.objects.filter(
                external_ids__overlap=aliases, deleted_at__isnull=True).values_list(
                "id", "external_ids"):
            by_alias.update({a: item_id for a in external_ids if a in aliases})
    ready, waiting = [], []
    for target, kwargs in changes:
        if isinstance(target, str):
            if target in by_alias:
                ready.append((by_alias[target], kwargs))
        elif target in stored:
            ready.append((target, kwargs))
        else:
            waiting.append((target, kwargs))
    return ready, waiting


def record_event_changes(changes: Sequence[tuple[uuid.UUID, dict[str, Any]]],
                         agent_id: uuid.UUID) -> int:
    """Event changes on items already stored; idempotent by event uid (count updates fold)."""
    from catalog.ingest import ChangeInput, Ingestor

    if not changes:
        return 0
    ingestor = Ingestor(agent_id=agent_id)
    with transaction.atomic():
        ingestor.record_changes([ChangeInput(config_id=target, **kwargs)
                                 for target, kwargs in changes])
    return len(changes)


class KubernetesScraper:
    kind = "kubernetes"

    def scrape(self, entry: Mapping[str, Any], index: int,
               ctx: ScrapeContext) -> Iterator[ScrapedItem | Problem]:
        where = f"kubernetes[{index}]"
        if not entry.get("clusterName"):
            ctx.incomplete()
            yield Problem(where, "clusterName is required")
            return
        settings = EntrySettings.parse(entry, where, ctx.spec.get("tags"))
        try:
            api = connect(entry, namespace=ctx.scraper_key.partition("/")[0] or "default")
        except ScrapeError as exc:
            ctx.incomplete()
            yield Problem(where, str(exc))
            return
        try:
            yield from self._scrape(api, settings, ctx)
        finally:
            api.close()

    def _scrape(self, api: KubeApi, settings: EntrySettings,
                ctx: ScrapeContext) -> Iterator[ScrapedItem | Problem]:
        where = settings.where
        try:
            resources, failed_groups = discover(api)
        except request_errors() as exc:
            ctx.incomplete()
            yield Problem(where, f"cannot read the cluster's API discovery: {failure(exc)}")
            return
        for group in failed_groups:
            ctx.incomplete()
            yield Problem(where, f"API group discovery failed, its kinds were not read: {group}")
        yield settings.cluster_item(ctx)
        resources = [r for r in resources if settings.kind_allowed(r)]
        # Events first: changes on stored items are written now, the rest ride on their items.
        pending: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for resource in (r for r in resources if r.is_event):
            problem = self._read_events(api, resource, settings, ctx, pending)
            if problem is not None:
                yield problem
        problems: list[Problem] = []
        for resource in (r for r in resources if not r.is_event):
            for namespace in settings.scopes(resource):
                try:
                    for obj in list_objects(api, resource, namespace, settings.query(resource)):
                        item = settings.item(obj, resource, ctx, problems)
                        yield from problems
                        problems.clear()
                        if item is None:
                            continue
                        item.changes = pending.pop(item.id, [])
                        yield item
                except ListFailed as exc:
                    ctx.incomplete()
                    yield Problem(where, str(exc), resource.kind)

    def _read_events(self, api: KubeApi, resource: ApiResource, settings: EntrySettings,
                     ctx: ScrapeContext, pending: dict[uuid.UUID, list[dict[str, Any]]],
                     ) -> Problem | None:
        changes: list[EventChange] = []
        problem = None
        for namespace in settings.scopes(resource):
            try:
                for event in list_objects(api, resource, namespace, {}):
                    change = settings.event_change(event)
                    if change is not None:
                        changes.append(change)
            except ListFailed as exc:
                ctx.incomplete()
                problem = Problem(settings.where, str(exc), resource.kind)
        ready, waiting = split_stored(changes)
        record_event_changes(ready, ctx.agent_id)
        for target, kwargs in waiting:
            pending[target].append(kwargs)
        return problem
