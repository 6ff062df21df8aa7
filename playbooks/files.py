"""Playbook manifests (kind: Playbook, apiVersion flightdeck.dev/v1) from YAML files.

Through the one write path (playbooks/store.py), as `managed_by=file` rows with
`source_ref=file://<path>`: pages and the API refuse to edit them, and a file never takes over
a playbook someone made in the UI, the API or a cluster.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from catalog.scrapers.documents import parse
from playbooks import spec as specs
from playbooks import store
from playbooks.models import Playbook
from portal.models import ManagedBy

API_VERSION = "flightdeck.dev/v1"


@dataclass
class Applied:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            found.append(path)
    return found


def apply(paths: list[Path]) -> Applied:
    """Every Playbook document under `paths`; one bad document never stops the others."""
    applied = Applied()
    for path in _files(paths):
        for doc in parse(path.read_bytes(), str(path)):
            where = f"{path}#{doc.index}"
            if doc.error:
                applied.errors.append(f"{where}: {doc.error}")
                continue
            value = doc.value
            if not isinstance(value, dict) or value.get("kind") != "Playbook":
                continue
            if value.get("apiVersion") != API_VERSION:
                applied.errors.append(f"{where}: apiVersion must be {API_VERSION}")
                continue
            meta = value.get("metadata") or {}
            name, namespace = meta.get("name"), meta.get("namespace") or "default"
            if not name:
                applied.errors.append(f"{where}: metadata.name is required")
                continue
            _apply_one(applied, where, f"file://{path}", name, namespace, value.get("spec"))
    return applied


def _apply_one(applied: Applied, where: str, source: str, name: str, namespace: str,
               spec: object) -> None:
    ref = f"{namespace}/{name}"
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    existing = Playbook.objects.live().filter(namespace=namespace, name=name).first()
    if existing is not None and existing.managed_by != ManagedBy.FILE:
        applied.errors.append(f"{where}: {ref} is managed by {existing.managed_by}; "
                              "the file does not take it over")
        return
    if existing is not None and existing.source_hash == digest:
        applied.unchanged.append(ref)
        return
    try:
        playbook = store.save(existing, name=name, namespace=namespace, spec=spec, actor=None,
                              managed_by=ManagedBy.FILE, source_ref=source)
    except specs.SpecError as exc:
        applied.errors.append(f"{where} ({ref}): {exc}")
        return
    Playbook.objects.filter(pk=playbook.pk).update(source_hash=digest)
    (applied.updated if existing is not None else applied.created).append(ref)
