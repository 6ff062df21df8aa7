"""Soft relationships (ConfigRelationship rows): what a scraper stored, selector matches, and the
delta writes that keep them in step with what the source says now."""

import uuid
from collections.abc import Iterable
from datetime import datetime

import orjson
from django.db import connection

from catalog.scrapers.base import RelationRef

Edge = tuple[uuid.UUID, uuid.UUID, str]


def stored_edges(scraper_id: uuid.UUID) -> set[Edge]:
    """The live edges a scraper wrote earlier: the "before" of its next complete run."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT config_id, related_id, relation FROM catalog_configrelationship "
            "WHERE scraper_id = %s AND deleted_at IS NULL", [scraper_id])
        return {(r[0], r[1], r[2]) for r in cur.fetchall()}


def selector_edges(selectors: Iterable[tuple[uuid.UUID, RelationRef]]) -> set[Edge]:
    """Service -> Pods by label selector, all Services in one query."""
    selectors = list(selectors)
    if not selectors:
        return set()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT v.src, i.id, v.rel FROM unnest(%s::uuid[], %s::text[], %s::text[], "
            "%s::jsonb[], %s::text[]) AS v(src, rel, ns, sel, cluster) "
            "JOIN catalog_configitem i ON i.type = %s AND i.namespace = v.ns "
            # Only the labels GIN index should drive this: a cluster containment test
            # would match every item of the cluster and AND a huge bitmap per Service.
            "AND i.labels @> v.sel AND i.tags ->> 'cluster' = v.cluster "
            "AND i.deleted_at IS NULL",
            [[s for s, _ in selectors], [r.relation for _, r in selectors],
             [r.selector_namespace for _, r in selectors],
             [orjson.dumps(dict(r.selector or {})).decode() for _, r in selectors],
             [r.selector_cluster for _, r in selectors],
             "Kubernetes::Pod"],
        )
        return {(r[0], r[1], r[2]) for r in cur.fetchall()}


def add_edges(edges: set[Edge], scraper_id: uuid.UUID | None, now: datetime) -> None:
    """Insert new edges (both ends must exist) and revive soft-deleted ones; others untouched."""
    if not edges:
        return
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO catalog_configrelationship "
            "(config_id, related_id, relation, scraper_id, created_at, updated_at) "
            "SELECT v.src, v.dst, v.rel, %s, %s, %s "
            "FROM unnest(%s::uuid[], %s::uuid[], %s::text[]) AS v(src, dst, rel) "
            "JOIN catalog_configitem a ON a.id = v.src "
            "JOIN catalog_configitem b ON b.id = v.dst "
            "ON CONFLICT (config_id, related_id, relation) DO UPDATE "
            "SET deleted_at = NULL, updated_at = EXCLUDED.updated_at "
            "WHERE catalog_configrelationship.deleted_at IS NOT NULL",
            [scraper_id, now, now, [e[0] for e in edges], [e[1] for e in edges],
             [e[2] for e in edges]],
        )


def remove_edges(edges: set[Edge], now: datetime) -> None:
    """Soft-delete edges the source no longer shows."""
    if not edges:
        return
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE catalog_configrelationship r SET deleted_at = %s, updated_at = %s "
            "FROM unnest(%s::uuid[], %s::uuid[], %s::text[]) AS v(src, dst, rel) "
            "WHERE r.config_id = v.src AND r.related_id = v.dst AND r.relation = v.rel "
            "AND r.deleted_at IS NULL",
            [now, now, [e[0] for e in edges], [e[1] for e in edges], [e[2] for e in edges]],
        )
