"""Deterministic item ids: the same object always gets the same id."""

import uuid
from collections.abc import Mapping
from typing import Any

from portal.ids import natural_id


def kubernetes_type(obj: Mapping[str, Any]) -> str:
    return f"Kubernetes::{obj.get('kind', 'Unknown')}"


def kubernetes_alias(cluster: str, kind: str, namespace: str, name: str) -> str:
    """The external id other objects use to point at this one."""
    return f"kubernetes/{cluster}/{kind}/{namespace}/{name}".lower()


def kubernetes_item_id(obj: Mapping[str, Any], cluster: str, agent_id: uuid.UUID) -> uuid.UUID:
    """metadata.uid when the object has one (owner references resolve for free), else the name.

    A manifest folder without uids and a live cluster therefore agree whenever the manifest
    carries the uid, and otherwise at least stay stable across re-scrapes.
    """
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if isinstance(uid, str):
        try:
            return uuid.UUID(uid)
        except ValueError:
            pass
    return natural_id(
        agent_id, "kubernetes", cluster, obj.get("apiVersion", ""), obj.get("kind", ""),
        meta.get("namespace", ""), meta.get("name", ""),
    )


def cluster_item_id(cluster: str, agent_id: uuid.UUID) -> uuid.UUID:
    return natural_id(agent_id, "kubernetes-cluster", cluster)


def item_id(agent_id: uuid.UUID, scraper_key: str, type_: str, external_id: str) -> uuid.UUID:
    """Other scraped items hash agent | scraper natural key | type | primary external id."""
    return natural_id(agent_id, scraper_key, type_, external_id)
