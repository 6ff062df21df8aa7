"""Scraped items -> hashed upserts, change rows, events, relationships and safe soft deletes.

Writes go through psycopg (COPY into a temporary staging table, then a guarded merge) because
COPY is several times faster than the ORM's bulk_create at 100k rows. An unchanged item writes
nothing to the item table: its hash is compared first, and only its seen marker is refreshed.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from catalog import diff, relationships
from catalog.health import Health as Verdict
from catalog.health import Rule, apply_rules, assess
from catalog.scrapers.base import RelationRef, ScrapedItem
from portal.ids import LOCAL_AGENT_ID, uuid7

log = logging.getLogger("flightdeck.ingest")

HEALTH_CHANGE = {  # a health transition is a change: its type and severity per new health
    "healthy": ("Healthy", "info"),
    "unhealthy": ("Unhealthy", "high"),
    "warning": ("Warning", "medium"),
    "unknown": ("HealthUnknown", "low"),
}
TRUNCATED_PREVIEW_BYTES = 64 * 1024

ITEM_COLUMNS = (
    "id", "agent_id", "scraper_id", "type", "config_class", "name", "namespace", "labels", "tags",
    "config", "config_hash", "item_hash", "config_truncated", "health", "status", "ready",
    "message", "description", "icon", "external_ids", "parent_id", "path", "properties", "source",
    "managed_by", "created_at", "updated_at", "first_seen_at", "deleted_at", "delete_reason",
)
# On update these keep their stored value: identity, history and the derived tree position.
KEEP_ON_UPDATE = frozenset({"id", "agent_id", "first_seen_at", "created_at", "path"})
CHANGE_COLUMNS = (
    "id", "config_id", "agent_id", "change_type", "severity", "source", "summary", "diff",
    "patch", "details", "fingerprint", "count", "first_observed", "created_at",
    "external_change_id", "external_created_by", "inserted_at",
)


class StaleDeleteRefused(Exception):
    """The maxDeletePercent safety valve: the run fails rather than mass-deleting items."""


@dataclass
class IngestStats:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    undeleted: int = 0
    changes: int = 0
    changes_deduped: int = 0
    relationships: int = 0
    per_type: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(
        lambda: defaultdict(int)))

    def bump(self, type_: str, what: str, n: int = 1) -> None:
        setattr(self, what, getattr(self, what) + n)
        self.per_type[type_][what] += n

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "deleted": self.deleted, "undeleted": self.undeleted, "changes": self.changes,
            "changes_deduped": self.changes_deduped,
            "per_type": {t: dict(v) for t, v in self.per_type.items()},
        }


@dataclass(slots=True)
class _Prepared:
    item: ScrapedItem
    config: Any
    config_hash: str
    item_hash: str
    verdict: Verdict | None = None


@dataclass(slots=True)
class ChangeInput:
    """A change to record on an item: a diff, a health transition, or a source event."""

    config_id: uuid.UUID
    change_type: str
    severity: str
    source: str
    summary: str
    type: str = ""
    diff: str | None = None
    patch: Any = None
    details: Mapping[str, Any] = field(default_factory=dict)
    external_change_id: str | None = None
    external_created_by: str = ""
    count: int = 1
    created_at: datetime | None = None


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _text_array(values: Sequence[str]) -> str:
    """Postgres array literal for COPY text format."""
    escaped = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    return "{" + ",".join(escaped) + "}"


class Ingestor:
    """Feed items with add(); call finish() once the scraper is done (complete or not)."""

    def __init__(
        self,
        *,
        scraper_id: uuid.UUID | None = None,
        agent_id: uuid.UUID = LOCAL_AGENT_ID,
        managed_by: str = "scraper",
        rules: Sequence[Rule] = (),
        batch_size: int = 2000,
        now: datetime | None = None,
        change_author: str = "",
        guard: Callable[[], None] | None = None,
    ) -> None:
        self.scraper_id = scraper_id
        # Called first in every write transaction: a run's lease check (portal/runs.py), so a
        # worker that lost its run writes nothing.
        self.guard = guard
        self.agent_id = agent_id
        self.managed_by = managed_by
        self.rules = list(rules)
        self.batch_size = batch_size
        self.now = now or timezone.now()
        self.change_author = change_author
        self.stats = IngestStats()
        self.rule_errors: list[str] = []
        self._batch: list[ScrapedItem] = []
        self._seen: list[uuid.UUID] = []
        self._seen_set: set[uuid.UUID] = set()
        # Items whose tree position may have moved: inserted, changed or re-parented.
        self._touched: set[uuid.UUID] = set()
        # Aliases of this run's items, so most references resolve without a query.
        self._known_aliases: dict[str, uuid.UUID] = {}
        # Tree paths computed while inserting, so a fresh scrape writes most rows only once.
        self._paths: dict[uuid.UUID, str] = {}
        self._unplaced: set[uuid.UUID] = set()
        # (cluster, namespace) of Pods written in this run: only their Services re-select.
        self._pod_scopes: set[tuple[str, str]] = set()
        self._refs: list[tuple[uuid.UUID, RelationRef]] = []
        self._parent_aliases: dict[uuid.UUID, str] = {}
        self._dedupe_window: timedelta = settings.FLIGHTDECK_CHANGE_DEDUPE_WINDOW

    # -- public -----------------------------------------------------------------------------

    def add(self, item: ScrapedItem) -> None:
        self._batch.append(item)
        if len(self._batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        # The same object twice in one batch (two files declaring it): the last one wins.
        batch = list({item.id: item for item in self._batch}.values())
        self._batch = []
        prepared = [self._prepare(item) for item in batch]
        for item in batch:
            for alias in item.external_ids:
                self._known_aliases[alias] = item.id
        with transaction.atomic():
            self._hold()
            self._write_batch(prepared)
        for p in prepared:
            if p.item.type == "Kubernetes::Pod" and p.item.id in self._touched:
                self._pod_scopes.add((p.item.tags.get("cluster", ""), p.item.namespace))
            if p.item.id not in self._seen_set:
                self._seen_set.add(p.item.id)
                self._seen.append(p.item.id)
            self._refs.extend((p.item.id, ref) for ref in p.item.relationships)
            # Parents named by alias that this run could not place are resolved in finish().
            if p.item.parent_alias and p.item.id in self._unplaced:
                self._parent_aliases[p.item.id] = p.item.parent_alias

    def finish(self, *, complete: bool, stale_age: timedelta | None = None,
               max_delete_percent: int = 20) -> IngestStats:
        """Relationships, parents, seen markers, then stale deletion only after a complete run."""
        self.flush()
        # A run that changed nothing has the same edges and tree as the last one: skip the work.
        dirty = bool(self.stats.created or self.stats.updated or self.stats.undeleted)
        with transaction.atomic():
            self._hold()
            with connection.cursor() as cur:
                # These are large, simple statements: JIT compilation costs more than it saves.
                cur.execute("SET LOCAL jit = off")
            self._mark_seen()
            if dirty:
                self._resolve_parents()
                self._write_relationships(complete)
        if complete and self.scraper_id is not None and stale_age is not None:
            with transaction.atomic():
                self._hold()
                self._delete_stale(stale_age, max_delete_percent)
        return self.stats

    def _hold(self) -> None:
        if self.guard is not None:
            self.guard()

    def delete_ids(self, ids: Sequence[uuid.UUID], reason: str = "source_deleted") -> int:
        """The source said these are gone (a watch DELETED): soft delete them and their edges."""
        if not ids:
            return 0
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "UPDATE catalog_configitem SET deleted_at = %s, delete_reason = %s "
                "WHERE id = ANY(%s) AND deleted_at IS NULL RETURNING id, type",
                [self.now, reason, list(ids)],
            )
            gone = cur.fetchall()
            if gone:
                cur.execute(
                    "UPDATE catalog_configrelationship SET deleted_at = %s, updated_at = %s "
                    "WHERE deleted_at IS NULL AND (config_id = ANY(%s) OR related_id = ANY(%s))",
                    [self.now, self.now, [g[0] for g in gone], [g[0] for g in gone]],
                )
            for _, type_ in gone:
                self.stats.bump(type_, "deleted")
            self.emit([("config.deleted", g[0], {"delete_reason": reason}) for g in gone])
        return len(gone)

    @property
    def seen_count(self) -> int:
        return len(self._seen)

    # -- preparation (pure) -----------------------------------------------------------------

    def _prepare(self, item: ScrapedItem) -> _Prepared:
        config = item.config
        raw = diff.canonical_json(config)
        config_hash = diff.sha256(raw)
        if item.truncated or len(raw) > settings.FLIGHTDECK_MAX_DOCUMENT_BYTES:
            item.truncated = True
            config = {"truncated": True, "size": len(raw),
                      "preview": raw[:TRUNCATED_PREVIEW_BYTES].decode("utf-8", "ignore")}
        item_hash = diff.sha256(diff.canonical_json([
            config_hash, item.type, item.name, item.namespace, item.config_class, item.labels,
            item.tags, item.external_ids, item.description, item.health, item.status, item.ready,
            item.message, str(item.parent_id or ""), item.parent_alias or "", item.properties,
            self.scraper_id and str(self.scraper_id), self.managed_by,
        ]))
        return _Prepared(item, config, config_hash, item_hash)

    def _verdict(self, p: _Prepared) -> Verdict:
        item = p.item
        if item.health is not None:
            verdict = Verdict(item.health if item.health in HEALTH_CHANGE else "unknown",
                              item.status or "", bool(item.ready) if item.ready is not None
                              else True, item.message or "")
        else:
            try:
                verdict = assess(item.config if not item.truncated else {}, item.type,
                                 now=self.now)
            except Exception as exc:  # a handler bug must not cost the other items
                log.warning("health assessment failed", extra={"type": item.type,
                                                              "error": str(exc)})
                verdict = Verdict("unknown", "", False, "health could not be assessed")
            if item.status is not None:
                verdict = Verdict(verdict.health, item.status, verdict.ready, verdict.message)
        if self.rules:
            verdict, errors = apply_rules(
                verdict, item.config, _rule_item(item), self.rules, self.now
            )
            self.rule_errors.extend(errors)
        return verdict

    # -- writing ----------------------------------------------------------------------------

    def _existing(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple]:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT id, item_hash, config_hash, health, status, ready, message, deleted_at "
                "FROM catalog_configitem WHERE id = ANY(%s)", [ids],
            )
            return {row[0]: row for row in cur.fetchall()}

    def _write_batch(self, prepared: list[_Prepared]) -> None:
        existing = self._existing([p.item.id for p in prepared])
        new: list[_Prepared] = []
        changed: list[_Prepared] = []
        undelete: list[_Prepared] = []
        for p in prepared:
            row = existing.get(p.item.id)
            if row is None:
                p.verdict = self._verdict(p)
                new.append(p)
            elif row[1] != p.item_hash:
                p.verdict = self._verdict(p)
                changed.append(p)
            elif row[7] is not None:
                undelete.append(p)
            else:
                self.stats.bump(p.item.type, "unchanged")
                if p.item.changes:  # source events about an unchanged object still count
                    self.record_changes([ChangeInput(config_id=p.item.id, type=p.item.type, **c)
                                         for c in p.item.changes])
        if new:
            self._insert_new(new)
        if changed:
            self._update_changed(changed, existing)
        if undelete:
            self._undelete(undelete)

    def _placement(self, item: ScrapedItem) -> tuple[uuid.UUID | None, str]:
        """Parent id and path when this run already placed the parent; "" means later."""
        parent = item.parent_id
        if parent is None and item.parent_alias:
            parent = self._known_aliases.get(item.parent_alias)
            if parent is None:
                return None, ""
        if parent is None:
            path = str(item.id)
        else:
            parent_path = self._paths.get(parent)
            path = f"{parent_path}.{item.id}" if parent_path else ""
        if path:
            self._paths[item.id] = path
        else:
            self._unplaced.add(item.id)
        return parent, path

    def _row(self, p: _Prepared, *, updated_at: datetime | None, first_seen: datetime) -> tuple:
        item, verdict = p.item, p.verdict
        assert verdict is not None
        parent, path = self._placement(item)
        return (
            str(item.id), str(self.agent_id), str(self.scraper_id) if self.scraper_id else None,
            item.type[:255], item.config_class[:100], item.name[:512], item.namespace[:253],
            _json(item.labels), _json(item.tags), _json(p.config), p.config_hash, p.item_hash,
            item.truncated, verdict.health, verdict.status[:100], verdict.ready, verdict.message,
            item.description, "", _text_array(item.external_ids),
            str(parent) if parent else None, path, _json(item.properties),
            item.source, self.managed_by, item.created_at or self.now, updated_at, first_seen,
            None, "",
        )

    def _copy_to_stage(self, stage: str, rows: Iterable[tuple]) -> None:
        with connection.cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                "(LIKE catalog_configitem INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            # NULL in updated_at means "keep the stored value" (no material change).
            cur.execute(f"ALTER TABLE {stage} ALTER COLUMN updated_at DROP NOT NULL")
            # ON COMMIT only clears it at the outermost commit; a caller's transaction
            # (or a test) may span several batches, so start every batch empty.
            cur.execute(f"TRUNCATE {stage}")
            with cur.cursor.copy(f"COPY {stage} ({', '.join(ITEM_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def _insert_new(self, new: list[_Prepared]) -> None:
        self._copy_to_stage("_fd_stage_new", (
            self._row(p, updated_at=p.item.created_at or self.now, first_seen=self.now)
            for p in new
        ))
        cols = ", ".join(ITEM_COLUMNS)
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO catalog_configitem ({cols}) SELECT {cols} FROM _fd_stage_new "  # noqa: S608
                "ON CONFLICT (id) DO NOTHING RETURNING id"
            )
            inserted = {row[0] for row in cur.fetchall()}
        # Rows that got their path at insert need no second write.
        self._touched |= inserted & self._unplaced
        events: list[tuple[str, uuid.UUID, dict[str, Any]]] = []
        for p in new:
            if p.item.id not in inserted:
                continue
            assert p.verdict is not None
            self.stats.bump(p.item.type, "created")
            events.append(("config.created", p.item.id,
                           {"type": p.item.type, "health": p.verdict.health}))
            if p.verdict.health in ("unhealthy", "warning"):
                events.append((f"config.{p.verdict.health}", p.item.id,
                               {"previous": None, "current": _verdict_dict(p.verdict)}))
        self.emit(events)
        self._record_item_changes([(p, None) for p in new if p.item.id in inserted])

    def _update_changed(self, changed: list[_Prepared],
                        existing: dict[uuid.UUID, tuple]) -> None:
        old_configs = self._old_configs(
            [p.item.id for p in changed if existing[p.item.id][2] != p.config_hash]
        )
        rows = []
        for p in changed:
            row = existing[p.item.id]
            assert p.verdict is not None
            material = row[2] != p.config_hash or row[3] != p.verdict.health
            # None: not a material change, the stored updated_at stays (see the UPDATE below).
            rows.append(self._row(p, updated_at=self.now if material else None,
                                  first_seen=self.now))
        self._copy_to_stage("_fd_stage_upd", rows)
        assignments = ", ".join(
            f"{c} = s.{c}" for c in ITEM_COLUMNS if c not in KEEP_ON_UPDATE and c != "updated_at"
        )
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE catalog_configitem c SET {assignments}, "  # noqa: S608 - fixed columns
                "updated_at = COALESCE(s.updated_at, c.updated_at) "
                "FROM _fd_stage_upd s WHERE c.id = s.id"
            )
        events: list[tuple[str, uuid.UUID, dict[str, Any]]] = []
        pending: list[tuple[_Prepared, tuple | None]] = []
        for p in changed:
            row = existing[p.item.id]
            self.stats.bump(p.item.type, "updated")
            self._touched.add(p.item.id)
            if row[7] is not None:
                self.stats.bump(p.item.type, "undeleted")
            pending.append((p, row))
        self._record_item_changes(pending, old_configs, events)
        self.emit(events)

    def _old_configs(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
        if not ids:
            return {}
        with connection.cursor() as cur:
            cur.execute(
                "SELECT id, config, config_truncated FROM catalog_configitem WHERE id = ANY(%s)",
                [ids],
            )
            return {r[0]: (orjson.loads(r[1]) if isinstance(r[1], str) else r[1], r[2])
                    for r in cur.fetchall()}

    def _undelete(self, items: list[_Prepared]) -> None:
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE catalog_configitem SET deleted_at = NULL, delete_reason = '' "
                "WHERE id = ANY(%s) AND deleted_at IS NOT NULL",
                [[p.item.id for p in items]],
            )
        for p in items:
            self.stats.bump(p.item.type, "undeleted")

    def _record_item_changes(
        self, pending: list[tuple[_Prepared, tuple | None]],
        old_configs: Mapping[uuid.UUID, Any] | None = None,
        events: list[tuple[str, uuid.UUID, dict[str, Any]]] | None = None,
    ) -> None:
        """Diff rows for changed configs, health rows for transitions, plus source changes."""
        changes: list[ChangeInput] = []
        health_events = events if events is not None else []
        for p, row in pending:
            item, verdict = p.item, p.verdict
            assert verdict is not None
            if row is not None and row[2] != p.config_hash and not item.truncated:
                old_config, old_truncated = (old_configs or {}).get(item.id, (None, True))
                if old_config is not None and not old_truncated:
                    paths = list(diff.changed_paths(old_config, p.config))
                    if paths:
                        changes.append(ChangeInput(
                            config_id=item.id, type=item.type, change_type="diff",
                            severity="info", source="diff", summary=diff.summarize(paths),
                            diff=diff.unified_diff(old_config, p.config,
                                                   settings.FLIGHTDECK_DIFF_MAX_BYTES),
                            patch=diff.merge_patch(old_config, p.config),
                            external_created_by=self.change_author,
                        ))
            if row is not None and row[3] != verdict.health:
                previous = Verdict(row[3], row[4], row[5], row[6])
                change, event = health_transition(item.id, item.type, previous, verdict)
                changes.append(change)
                health_events.append(event)
            for change in item.changes:
                changes.append(ChangeInput(config_id=item.id, type=item.type, **change))
        if changes:
            self.record_changes(changes, emit=events)

    def record_changes(self, changes: Sequence[ChangeInput],
                       emit: list[tuple[str, uuid.UUID, dict[str, Any]]] | None = None) -> None:
        """Fold repeats within the dedupe window; external ids are idempotent regardless."""
        events = emit if emit is not None else []
        rows: list[tuple] = []
        by_fingerprint: dict[tuple[uuid.UUID, str], ChangeInput] = {}
        external: list[tuple[ChangeInput, str]] = []
        for change in changes:
            fp = diff.fingerprint(change.config_id, change.change_type, change.severity,
                                  change.source, change.summary, change.details, change.patch)
            if change.external_change_id:
                external.append((change, fp))
            else:
                by_fingerprint[(change.config_id, fp)] = change
        folded = self._fold(by_fingerprint)
        for (config_id, fp), change in by_fingerprint.items():
            if (config_id, fp) in folded:
                self.stats.bump(change.type or "?", "changes_deduped")
                continue
            change_id = uuid7()
            rows.append(self._change_row(change_id, change, fp))
            self.stats.bump(change.type or "?", "changes")
            if change.change_type == "diff":
                events.append(("config.updated", config_id,
                               {"change_id": str(change_id), "summary": change.summary[:500]}))
            elif change.source != "flightdeck/health":
                events.append(("config.changed", config_id, {
                    "change_id": str(change_id), "change_type": change.change_type,
                    "severity": change.severity}))
        if rows:
            with connection.cursor() as cur, cur.cursor.copy(
                f"COPY catalog_configchange ({', '.join(CHANGE_COLUMNS)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
        for change, fp in external:
            self._upsert_external(change, fp, events)
        if emit is None:
            self.emit(events)

    def _change_row(self, change_id: uuid.UUID, change: ChangeInput, fp: str) -> tuple:
        at = change.created_at or self.now
        return (
            str(change_id), str(change.config_id), str(self.agent_id), change.change_type[:100],
            change.severity, change.source[:255], change.summary, change.diff,
            None if change.patch is None else _json(change.patch), _json(change.details), fp,
            change.count, at, at, change.external_change_id, change.external_created_by[:255],
            self.now,
        )

    def _fold(self, by_fingerprint: Mapping[tuple[uuid.UUID, str], ChangeInput]) -> set:
        if not by_fingerprint:
            return set()
        ids = list({k[0] for k in by_fingerprint})
        fps = list({k[1] for k in by_fingerprint})
        with connection.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT ON (config_id, fingerprint) id, config_id, fingerprint "
                "FROM catalog_configchange WHERE config_id = ANY(%s) AND fingerprint = ANY(%s) "
                "AND created_at >= %s ORDER BY config_id, fingerprint, created_at DESC",
                [ids, fps, self.now - self._dedupe_window],
            )
            hits = {(r[1], r[2]): r[0] for r in cur.fetchall() if (r[1], r[2]) in by_fingerprint}
            for key, change_id in hits.items():
                change = by_fingerprint[key]
                cur.execute(
                    "UPDATE catalog_configchange SET count = count + %s, created_at = %s, "
                    "diff = %s, details = %s::jsonb WHERE id = %s",
                    [change.count, change.created_at or self.now, change.diff,
                     _json(change.details), change_id],
                )
        return set(hits)

    def _upsert_external(self, change: ChangeInput, fp: str,
                         events: list[tuple[str, uuid.UUID, dict[str, Any]]]) -> None:
        change_id = uuid7()
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO catalog_configchange ({', '.join(CHANGE_COLUMNS)}) "  # noqa: S608
                f"VALUES ({', '.join(['%s'] * len(CHANGE_COLUMNS))}) "
                "ON CONFLICT (config_id, external_change_id) WHERE external_change_id IS NOT NULL "
                "DO UPDATE SET count = EXCLUDED.count, created_at = EXCLUDED.created_at, "
                "summary = EXCLUDED.summary, details = EXCLUDED.details "
                "WHERE catalog_configchange.count IS DISTINCT FROM EXCLUDED.count "
                "RETURNING id, (xmax = 0) AS inserted",
                self._change_row(change_id, change, fp),
            )
            row = cur.fetchone()
        if row is None:
            self.stats.bump(change.type or "?", "changes_deduped")
            return
        if row[1]:
            self.stats.bump(change.type or "?", "changes")
            events.append(("config.changed", change.config_id, {
                "change_id": str(row[0]), "change_type": change.change_type,
                "severity": change.severity}))
        else:
            self.stats.bump(change.type or "?", "changes_deduped")

    def emit(self, events: list[tuple[str, uuid.UUID, dict[str, Any]]]) -> None:
        """Outbox rows in the same transaction as the change, then one NOTIFY per batch."""
        if not events:
            return
        with connection.cursor() as cur:
            with cur.cursor.copy(
                "COPY portal_event (name, object_type, object_id, agent_id, payload, created_at) "
                "FROM STDIN"
            ) as copy:
                for name, object_id, payload in events:
                    copy.write_row((name, "config", str(object_id), str(self.agent_id),
                                    _json(payload), self.now))
            cur.execute("SELECT pg_notify('flightdeck_events', %s)", [str(len(events))])

    # -- end of run -------------------------------------------------------------------------

    def _mark_seen(self) -> None:
        """One bulk statement per run on the narrow UNLOGGED table, never the wide row."""
        if not self._seen:
            return
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO catalog_configitemseen (config_item_id, last_scraped_at) "
                "SELECT unnest(%s::uuid[]), %s ON CONFLICT (config_item_id) "
                "DO UPDATE SET last_scraped_at = EXCLUDED.last_scraped_at",
                [self._seen, self.now],
            )

    def _aliases(self, aliases: set[str]) -> dict[str, uuid.UUID]:
        """This run's items answer from memory; only the rest (other scrapers) hit the index."""
        found = {a: self._known_aliases[a] for a in aliases if a in self._known_aliases}
        missing = [a for a in aliases if a not in found]
        if not missing:
            return found
        with connection.cursor() as cur:
            cur.execute(
                "SELECT alias, id FROM (SELECT id, unnest(external_ids) AS alias "
                "FROM catalog_configitem WHERE external_ids && %s::text[] "
                "AND deleted_at IS NULL) a WHERE alias = ANY(%s)",
                [missing, missing],
            )
            found.update({r[0]: r[1] for r in cur.fetchall()})
        return found

    def _resolve_parents(self) -> None:
        """Parents known only by name are resolved once all items are stored; guarded writes."""
        if self._parent_aliases:
            found = self._aliases(set(self._parent_aliases.values()))
            pairs = [(i, found[a]) for i, a in self._parent_aliases.items() if a in found]
            if pairs:
                with connection.cursor() as cur:
                    cur.execute(
                        "UPDATE catalog_configitem c SET parent_id = v.parent "
                        "FROM unnest(%s::uuid[], %s::uuid[]) AS v(id, parent) "
                        "WHERE c.id = v.id AND c.parent_id IS DISTINCT FROM v.parent "
                        "RETURNING c.id",
                        [[p[0] for p in pairs], [p[1] for p in pairs]],
                    )
                    self._touched |= {row[0] for row in cur.fetchall()}
        if not self._touched:
            return
        # path = dot-joined ancestor ids (self last), for `path LIKE '<root>.%'` subtree queries.
        # Only the touched subtrees are walked. A row reached twice (a touched item below a
        # touched ancestor) keeps the deepest derivation: it starts from the higher, fresher
        # ancestor instead of a stored path that may be about to change.
        touched = list(self._touched)
        with connection.cursor() as cur:
            cur.execute(
                """
                WITH RECURSIVE tree(id, path, depth) AS (
                    SELECT c.id, COALESCE(NULLIF(p.path, '') || '.', '') || c.id::text, 0
                    FROM catalog_configitem c
                    LEFT JOIN catalog_configitem p ON p.id = c.parent_id
                    WHERE c.id = ANY(%s) AND NOT (c.parent_id IS NOT NULL
                                                  AND c.parent_id = ANY(%s))
                    UNION ALL
                    SELECT c.id, t.path || '.' || c.id::text, t.depth + 1
                    FROM catalog_configitem c JOIN tree t ON c.parent_id = t.id
                    WHERE t.depth < 32
                )
                , fresh AS (SELECT DISTINCT ON (id) id, path FROM tree ORDER BY id, depth DESC)
                UPDATE catalog_configitem c SET path = fresh.path FROM fresh
                WHERE c.id = fresh.id AND c.path IS DISTINCT FROM fresh.path
                """,
                [touched, touched],
            )

    def _write_relationships(self, complete: bool) -> None:
        edges: set[relationships.Edge] = set()
        aliases = {r.target_alias for _, r in self._refs if r.target_alias}
        found = self._aliases(aliases)
        selectors: list[tuple[uuid.UUID, RelationRef]] = []
        for source, ref in self._refs:
            target = ref.target_id or (found.get(ref.target_alias) if ref.target_alias else None)
            if ref.selector is not None:
                selectors.append((source, ref))
            elif target is not None and target != source:
                edges.add((target, source, ref.relation) if ref.incoming
                          else (source, target, ref.relation))
        # Diff against what this scraper stored before, so only the delta is written.
        # (A partial run, such as a watch batch, only adds its own few edges instead.)
        live = (relationships.stored_edges(self.scraper_id)
                if self.scraper_id is not None and complete else set())
        # A selector's matches change only when its Service or a Pod in its scope was
        # written; the others keep the edges they already have.
        fresh = [(s, r) for s, r in selectors if s in self._touched
                 or (r.selector_cluster, r.selector_namespace) in self._pod_scopes]
        stable = {(s, r.relation) for s, r in selectors if s not in self._touched
                  and (r.selector_cluster, r.selector_namespace) not in self._pod_scopes}
        edges |= {e for e in live if (e[0], e[2]) in stable}
        edges |= relationships.selector_edges(fresh)
        self.stats.relationships = len(edges)
        relationships.add_edges(edges - live, self.scraper_id, self.now)
        relationships.remove_edges(live - edges, self.now)

    def _delete_stale(self, stale_age: timedelta, max_delete_percent: int) -> None:
        cutoff = self.now - stale_age
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM catalog_configitem WHERE scraper_id = %s "
                "AND deleted_at IS NULL", [self.scraper_id],
            )
            live = cur.fetchone()[0]
            stale_where = (
                "FROM catalog_configitem c LEFT JOIN catalog_configitemseen s "
                "ON s.config_item_id = c.id WHERE c.scraper_id = %s AND c.deleted_at IS NULL "
                "AND NOT (c.id = ANY(%s)) AND COALESCE(s.last_scraped_at, c.first_seen_at) < %s"
            )
            params = [self.scraper_id, self._seen, cutoff]
            cur.execute(f"SELECT count(*) {stale_where}", params)
            stale = cur.fetchone()[0]
            if not stale:
                return
            if live and stale * 100 > live * max_delete_percent:
                raise StaleDeleteRefused(
                    f"refusing to delete {stale} of {live} items "
                    f"({stale * 100 // live}% > maxDeletePercent {max_delete_percent}%)"
                )
            cur.execute(
                "UPDATE catalog_configitem SET deleted_at = %s, delete_reason = 'stale' "  # noqa: S608
                f"WHERE id IN (SELECT c.id {stale_where}) RETURNING id, type",
                [self.now, *params],
            )
            gone = cur.fetchall()
            cur.execute(
                "UPDATE catalog_configrelationship SET deleted_at = %s WHERE deleted_at IS NULL "
                "AND (config_id = ANY(%s) OR related_id = ANY(%s))",
                [self.now, [g[0] for g in gone], [g[0] for g in gone]],
            )
        for _, type_ in gone:
            self.stats.bump(type_, "deleted")
        self.emit([("config.deleted", g[0], {"delete_reason": "stale"}) for g in gone])


Event = tuple[str, uuid.UUID, dict[str, Any]]


def health_transition(config_id: uuid.UUID, type_: str, previous: Verdict,
                      current: Verdict) -> tuple[ChangeInput, Event]:
    """A new health is a change row plus its `config.<health>` event."""
    before, after = _verdict_dict(previous), _verdict_dict(current)
    change_type, severity = HEALTH_CHANGE[current.health]
    summary = f"{previous.health} → {current.health}" + (
        f" ({current.status})" if current.status else "")
    change = ChangeInput(
        config_id=config_id, type=type_, change_type=change_type, severity=severity,
        source="flightdeck/health", summary=summary,
        details={"kind": "Health/v1", "previous": before, "current": after},
    )
    return change, (f"config.{current.health}", config_id, {"previous": before, "current": after})


def _verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {"health": verdict.health, "status": verdict.status, "ready": verdict.ready,
            "message": verdict.message}


def _rule_item(item: ScrapedItem) -> dict[str, Any]:
    return {"type": item.type, "name": item.name, "namespace": item.namespace,
            "labels": item.labels, "tags": item.tags, "properties": item.properties,
            "created_at": item.created_at}
