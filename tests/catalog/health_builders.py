"""Builders for realistic raw objects in health tests, with times relative to a fixed NOW."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
Obj = dict[str, Any]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta: float) -> str:
    """RFC 3339 text for NOW minus a timedelta(**delta)."""
    return rfc3339(NOW - timedelta(**delta))


def ahead(**delta: float) -> str:
    return rfc3339(NOW + timedelta(**delta))


def cond(kind: str, status: str, reason: str = "", message: str = "", since: str = "") -> Obj:
    condition: Obj = {"type": kind, "status": status}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    condition["lastTransitionTime"] = since or ago(hours=3)
    return condition


def meta(name: str, namespace: str = "shop", created: str = "", **extra: Any) -> Obj:
    metadata: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": f"00000000-0000-4000-8000-{zlib.crc32(name.encode()):012d}",
        "creationTimestamp": created or ago(days=3),
    }
    metadata.update(extra)
    return metadata


def custom(api_version: str, kind: str, spec: Obj | None = None, **status: Any) -> Obj:
    """Any object with a spec and a status, e.g. a CRD instance."""
    obj: Obj = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": meta(kind.lower(), generation=status.pop("generation", 2)),
        "spec": spec or {},
    }
    if status:
        obj["status"] = status
    return obj


def case(
    obj: Obj, health: str, status: str, ready: bool, message: str, *, id: str, type: str = ""
) -> Any:
    """One row of a verdict table: the object, an optional type and the expected verdict."""
    return pytest.param(obj, type or None, health, status, ready, message, id=id)
