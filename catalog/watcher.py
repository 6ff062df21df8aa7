"""Real-time Kubernetes ingestion: per kind a LIST, then a WATCH from the list's resourceVersion.

One ClusterWatch per `kubernetes[]` entry of every live, unpaused ScrapeConfig. Each watched kind
(the entry's `watch[]`, default DEFAULT_WATCH_KINDS, plus Events) gets a reader thread that only
talks HTTP and turns objects into ScrapedItems; one writer thread per cluster drains their queue
in batches through the same Ingestor path as a full scrape. Watch batches finish with
complete=False, so a watch never stale-deletes: only a DELETED event deletes (`source_deleted`),
and only a complete full scrape (Celery beat) removes what a watch missed.

Restart-safe by construction: on start, on 410 Gone and whenever it has no resourceVersion, a
reader relists. A dropped connection resumes from the last resourceVersion with exponential
backoff. stop() ends every stream at once (the socket is shut down) and joins the threads.
"""

import hashlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, close_old_connections, connection
from kubernetes import watch as k8s_watch

from catalog.diff import canonical_json
from catalog.identity import kubernetes_item_id
from catalog.ingest import Ingestor
from catalog.scrapers.base import ScrapeContext, ScrapedItem
from catalog.scrapers.kubernetes import (
    ApiResource,
    EntrySettings,
    KubeApi,
    ListFailed,
    ListResult,
    api_exception,
    connect,
    discover,
    failure,
    list_objects,
    record_event_changes,
    request_errors,
    split_stored,
)
from portal.errors import ScrapeError

log = logging.getLogger("flightdeck.watch")

WATCH_TIMEOUT_SECONDS = 300
BATCH_MAX = 500
QUEUE_MAX = 5000
BACKOFF_START = 0.2
BACKOFF_MAX = 30.0
# How long the writer waits for a first op before checking whether it should stop.
POLL_SECONDS = 0.25


@dataclass(slots=True)
class Op:
    """One thing for the writer: an item to upsert, an id to delete, or an Event to record."""

    action: str  # "upsert" | "delete" | "event"
    id: uuid.UUID | None = None
    item: ScrapedItem | None = None
    event: dict[str, Any] | None = None
    rv: int | None = None


def _rv(obj: dict[str, Any]) -> int | None:
    """resourceVersions are opaque, but etcd's are integers: used only to drop stale replays."""
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion"))
    except (TypeError, ValueError):
        return None


@dataclass
class StreamStats:
    lists: int = 0
    watches: int = 0
    relists: int = 0
    resumes: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)


class KindStream:
    """LIST, then WATCH one kind (in one namespace or cluster-wide), feeding the writer's queue."""

    def __init__(self, cluster: "ClusterWatch", resource: ApiResource,
                 namespace: str | None) -> None:
        self.cluster = cluster
        self.resource = resource
        self.namespace = namespace
        self.stats = StreamStats()
        self.rv = ""  # the newest resourceVersion seen; empty means "list first"
        self._watch: k8s_watch.Watch | None = None
        self.thread = threading.Thread(
            target=self.run, daemon=True,
            name=f"watch-{cluster.settings.cluster}-{resource.plural}",
        )

    def stop(self) -> None:
        current = self._watch
        if current is not None:
            current.stop()

    def run(self) -> None:
        stop = self.cluster.stopping
        backoff = BACKOFF_START
        while not stop.is_set():
            try:
                if not self.rv:
                    self.rv = self._list()
                self._watch_from()
                backoff = BACKOFF_START
            except api_exception() as exc:
                if exc.status == 410:
                    log.info("watch expired (410), relisting", extra=self._extra())
                    self.stats.relists += 1
                    self.rv = ""
                    continue
                self._failed(exc, backoff)
                if exc.status in (400, 401, 403, 404):
                    self.rv = ""  # the kind or our rights changed: start over from a list
                backoff = min(backoff * 2, BACKOFF_MAX)
            except ListFailed as exc:
                self._failed(exc, backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception as exc:  # dropped connections, and a reader must outlive surprises
                if stop.is_set():
                    break
                if not isinstance(exc, request_errors()):
                    log.exception("watch stream error", extra=self._extra())
                self.stats.resumes += 1
                self._failed(exc, backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _extra(self) -> dict[str, Any]:
        return {"cluster": self.cluster.settings.cluster, "kind": self.resource.kind,
                "namespace": self.namespace or ""}

    def _failed(self, exc: BaseException, backoff: float) -> None:
        reason = str(exc) if isinstance(exc, ListFailed) else failure(exc)
        self.stats.errors = [*self.stats.errors[-9:], reason]
        log.warning("watch stream failed, retrying in %.1fs: %s", backoff, reason,
                    extra=self._extra())
        self.cluster.stopping.wait(backoff)

    def _list(self) -> str:
        result = ListResult()
        query = self.cluster.settings.query(self.resource)
        for obj in list_objects(self.cluster.api, self.resource, self.namespace, query, result):
            if self.cluster.stopping.is_set():
                return ""
            self._emit("ADDED", obj, live=False)
        self.stats.lists += 1
        return result.resource_version

    def _watch_from(self) -> None:
        """Streams from self.rv until the server's timeout; self.rv follows every event, so a
        failure resumes where it stopped."""
        self._watch = k8s_watch.Watch()
        self.stats.watches += 1
        query = self.cluster.settings.query(self.resource)
        stream = self._watch.stream(
            self.cluster.api.watch_call, self.resource.path(self.namespace),
            resource_version=self.rv, timeout_seconds=WATCH_TIMEOUT_SECONDS,
            allow_watch_bookmarks=True, label_selector=query.get("labelSelector"),
            field_selector=query.get("fieldSelector"),
            _request_timeout=(10, WATCH_TIMEOUT_SECONDS + 30),
        )
        try:
            for event in stream:
                if self.cluster.stopping.is_set():
                    break
                obj = event.get("raw_object") or {}
                if event.get("type") != "BOOKMARK":
                    self.stats.events += 1
                    self._emit(str(event.get("type")), obj, live=True)
                self.rv = str((obj.get("metadata") or {}).get("resourceVersion") or self.rv)
        finally:
            self._watch = None

    def _emit(self, kind: str, obj: dict[str, Any], *, live: bool) -> None:
        cluster = self.cluster
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        if self.resource.is_event:
            if kind != "DELETED":
                if live:
                    cluster.refetch_involved(obj)
                cluster.put(Op("event", event=obj))
            return
        if kind == "DELETED":
            object_id = kubernetes_item_id(obj, cluster.settings.cluster, cluster.agent_id)
            cluster.put(Op("delete", id=object_id, rv=_rv(obj)))
            return
        item = cluster.settings.item(obj, self.resource, cluster.ctx)
        if item is not None:
            cluster.put(Op("upsert", id=item.id, item=item, rv=_rv(obj)))


class ClusterWatch:
    """Readers for one cluster entry and the one writer that ingests what they read."""

    def __init__(self, config: Any, index: int, entry: dict[str, Any]) -> None:
        self.config_id: uuid.UUID = config.pk
        self.agent_id: uuid.UUID = config.agent_id
        self.where = f"{config.namespace}/{config.name} kubernetes[{index}]"
        self.namespace = config.namespace
        self.entry = entry
        self.fingerprint = entry_fingerprint(config, entry)
        self.settings = EntrySettings.parse(entry, f"kubernetes[{index}]",
                                            config.spec.get("tags"))
        from django.conf import settings as django_settings

        self.ctx = ScrapeContext(
            scraper_key=f"{config.namespace}/{config.name}", spec=config.spec,
            agent_id=config.agent_id,
            max_document_bytes=django_settings.FLIGHTDECK_MAX_DOCUMENT_BYTES,
        )
        self.stopping = threading.Event()
        self.queue: queue.Queue[Op] = queue.Queue(maxsize=QUEUE_MAX)
        self.streams: list[KindStream] = []
        self.api: KubeApi | None = None
        self.refetchable: dict[tuple[str, str], ApiResource] = {}
        self.ready = threading.Event()  # set once every stream has started
        self.batches = 0
        self._last_rv: dict[uuid.UUID, int] = {}
        self._rules: list[Any] = []
        self.thread = threading.Thread(target=self.run, daemon=True,
                                       name=f"watch-{self.settings.cluster}")

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for stream in self.streams:
            stream.stop()
        self.thread.join(timeout)

    def put(self, op: Op) -> None:
        """Blocks when the writer is behind (bounded memory), but never past a stop."""
        while not self.stopping.is_set():
            try:
                self.queue.put(op, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        try:
            if not self._connect():
                return
            self._load_rules()
            self.put(Op("upsert", item=self.settings.cluster_item(self.ctx),
                        id=None))
            for stream in self.streams:
                stream.thread.start()
            self.ready.set()
            self._write_loop()
        except Exception:  # the supervisor restarts a dead cluster watch on its next pass
            log.exception("cluster watch crashed", extra={"scraper": self.where})
        finally:
            self.stopping.set()
            for stream in self.streams:
                stream.stop()
            for stream in self.streams:
                if stream.thread.is_alive():
                    stream.thread.join(5)
            if self.api is not None:
                self.api.close()
            connection.close()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def _connect(self) -> bool:
        """Credentials and discovery, retried with backoff until they work or we stop."""
        backoff = BACKOFF_START
        while not self.stopping.is_set():
            try:
                self.api = connect(self.entry, self.stopping, self.namespace)
                resources, failed = discover(self.api)
                for group in failed:
                    log.warning("API group discovery failed: %s", group,
                                extra={"scraper": self.where})
                break
            except (ScrapeError, *request_errors()) as exc:
                reason = str(exc) if isinstance(exc, ScrapeError) else failure(exc)
                log.warning("cannot reach the cluster, retrying in %.1fs: %s", backoff, reason,
                            extra={"scraper": self.where})
                if self.api is not None:
                    self.api.close()
                    self.api = None
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        else:
            return False
        allowed = [r for r in resources if self.settings.kind_allowed(r)]
        watched = [r for r in allowed if self.settings.watched(r)]
        self.refetchable = {(r.api_version, r.kind): r for r in allowed
                            if not r.is_event and r not in watched}
        self.streams = [KindStream(self, r, namespace) for r in watched
                        for namespace in self.settings.scopes(r)]
        log.info("watching %d kinds", len(watched), extra={"scraper": self.where})
        return True

    def _load_rules(self) -> None:
        from catalog.models import ScrapeConfig
        from catalog.scraping import rules_for

        config = ScrapeConfig.objects.filter(pk=self.config_id).first()
        self._rules = rules_for(config) if config is not None else []

    # -- readers' helpers -------------------------------------------------------------------

    def refetch_involved(self, event: dict[str, Any]) -> None:
        """An Event about a kind nobody watches re-reads that object, so its item stays current."""
        involved = event.get("involvedObject") or event.get("regarding") or {}
        resource = self.refetchable.get((str(involved.get("apiVersion") or ""),
                                         str(involved.get("kind") or "")))
        if resource is None or self.api is None or not involved.get("name"):
            return
        try:
            obj = self.api.get(resource.path(involved.get("namespace"), involved["name"]))
        except request_errors():
            return  # gone already, or unreadable: the next full scrape settles it
        item = self.settings.item(obj, resource, self.ctx)
        if item is not None:
            self.put(Op("upsert", id=item.id, item=item, rv=_rv(obj)))

    # -- the writer -------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                first = self.queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            for attempt in (1, 2):
                try:
                    self.apply(batch)
                    break
                except DatabaseError:
                    log.exception("watch batch failed (attempt %d)", attempt,
                                  extra={"scraper": self.where})
                    connection.close()  # a fresh connection for the retry
            self.batches += 1

    def apply(self, batch: Iterable[Op]) -> None:
        """Upserts, then deletes, then Event changes: the last op per object wins."""
        latest: dict[uuid.UUID, Op] = {}
        events: list[dict[str, Any]] = []
        for op in batch:
            if op.action == "event":
                events.append(op.event or {})
                continue
            object_id = op.id or (op.item.id if op.item else None)
            if object_id is None:
                continue
            seen = self._last_rv.get(object_id)
            if op.rv is not None and seen is not None and op.rv < seen:
                continue  # a replay older than what we already applied
            if op.rv is not None:
                self._last_rv[object_id] = op.rv
            latest.pop(object_id, None)
            latest[object_id] = op
        ingestor = Ingestor(scraper_id=self.config_id, agent_id=self.agent_id,
                            rules=self._rules)
        upserts = [op.item for op in latest.values() if op.action == "upsert" and op.item]
        for item in upserts:
            ingestor.add(item)
        ingestor.finish(complete=False)
        deleted = [i for i, op in latest.items() if op.action == "delete"]
        if deleted:
            ingestor.delete_ids(deleted, "source_deleted")
            for object_id in deleted:
                self._last_rv.pop(object_id, None)
        changes = [c for c in map(self.settings.event_change, events) if c is not None]
        if changes:
            ready, _waiting = split_stored(changes)  # an object never stored has no timeline
            record_event_changes(ready, self.agent_id)


def entry_fingerprint(config: Any, entry: dict[str, Any]) -> str:
    """A watch restarts when anything it was built from changes."""
    raw = canonical_json([str(config.agent_id), entry, config.spec.get("tags") or {}])
    return hashlib.sha256(raw).hexdigest()


def kubernetes_entries(configs: Iterable[Any]) -> Iterator[tuple[Any, int, dict[str, Any]]]:
    for config in configs:
        for index, entry in enumerate(config.spec.get("kubernetes") or []):
            if isinstance(entry, dict) and entry.get("clusterName"):
                yield config, index, entry


class Watcher:
    """Keeps one ClusterWatch per live kubernetes entry, reconciling every `refresh` seconds."""

    def __init__(self, stop: threading.Event | None = None, refresh: float = 30.0,
                 names: Iterable[str] = ()) -> None:
        self.stop_event = stop or threading.Event()
        self.refresh = refresh
        self.names = set(names)
        self.watches: dict[tuple[uuid.UUID, int], ClusterWatch] = {}

    def reconcile(self) -> None:
        from catalog.models import ScrapeConfig

        close_old_connections()
        configs = ScrapeConfig.objects.filter(deleted_at__isnull=True, paused=False,
                                              spec__has_key="kubernetes")
        wanted: dict[tuple[uuid.UUID, int], tuple[Any, dict[str, Any]]] = {}
        for config, index, entry in kubernetes_entries(configs):
            if self.names and config.name not in self.names and str(config) not in self.names:
                continue
            wanted[(config.pk, index)] = (config, entry)
        for key, current in list(self.watches.items()):
            target = wanted.get(key)
            if (target is None or not current.alive
                    or entry_fingerprint(*target) != current.fingerprint):
                current.stop()
                del self.watches[key]
        for key, (config, entry) in wanted.items():
            if key not in self.watches:
                watch = ClusterWatch(config, key[1], entry)
                self.watches[key] = watch
                watch.start()

    def run(self) -> None:
        """Until stop is set (SIGTERM in `manage.py run_watcher`)."""
        try:
            while not self.stop_event.is_set():
                started = time.monotonic()
                try:
                    self.reconcile()
                except DatabaseError:
                    log.exception("cannot read scrape configs; retrying")
                    connection.close()
                self.stop_event.wait(max(0.0, self.refresh - (time.monotonic() - started)))
        finally:
            self.shutdown()
            connection.close()

    def shutdown(self) -> None:
        for watch in self.watches.values():
            watch.stopping.set()
            for stream in watch.streams:
                stream.stop()
        for watch in self.watches.values():
            watch.stop()
        self.watches.clear()
