"""The one write path for connections: literals are encrypted, the spec keeps references only."""

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from connections import crypto
from connections.kinds import KINDS
from connections.kinds.base import delete_path, get_path, set_path
from connections.models import Connection, ConnectionSecret
from connections.spec import KEEP, kind_of, present
from portal.models import ManagedBy


@dataclass
class Prepared:
    """A spec with literals taken out: `spec` is safe to store, literals go to ConnectionSecret."""

    spec: dict[str, Any]
    literals: dict[str, str] = field(default_factory=dict, repr=False)
    kept: set[str] = field(default_factory=set)


def stored_fields(connection: Connection | None) -> frozenset[str]:
    if connection is None or connection._state.adding:
        return frozenset()
    return frozenset(connection.stored_secrets.values_list("field", flat=True))


def separate(spec: Mapping[str, Any], existing: frozenset[str]) -> Prepared:
    """Literal secrets become `stored` references; KEEP keeps the stored value if there is one."""
    clean = copy.deepcopy(dict(spec))
    kind = kind_of(clean)
    prepared = Prepared(clean)
    if kind is None:
        return prepared
    block = clean[kind.name]
    for path in kind.secret_paths:
        value = get_path(block, path)
        if not present(value):
            continue
        stored_ref = {"valueFrom": {"stored": {"key": path}}}
        if value == KEEP:
            if path in existing:
                set_path(block, path, stored_ref)
                prepared.kept.add(path)
            else:
                delete_path(block, path)
        elif isinstance(value, str) or (isinstance(value, Mapping) and "value" in value):
            prepared.literals[path] = value if isinstance(value, str) else str(value["value"])
            set_path(block, path, stored_ref)
    return prepared


def _envvar(value: Any) -> dict[str, Any]:
    if not present(value):
        return {}
    return dict(value) if isinstance(value, Mapping) else {"value": str(value)}


def project(connection: Connection) -> None:
    """Fill the typed columns from the spec so lists and filters need no JSON digging."""
    kind = KINDS[connection.type]
    block = connection.block
    connection.url = str(block.get("url") or block.get("apiURL") or block.get("server")
                         or block.get("host") or "")
    connection.username = _envvar(get_path(block, "username"))
    connection.password = _envvar(get_path(block, "password"))
    connection.certificate = _envvar(get_path(block, "tls.cert"))
    connection.secrets = {
        path: _envvar(get_path(block, path)) for path in kind.secret_paths
        if path not in ("password", "tls.cert") and present(get_path(block, path))
    }
    connection.properties = {
        f.path: get_path(block, f.path) for f in kind.fields
        if not f.secret and not f.envvar and present(get_path(block, f.path))
    }
    connection.insecure_tls = bool(connection.spec.get("insecureTLS"))


def changed_paths(before: Mapping[str, Any], after: Mapping[str, Any],
                  prefix: str = "") -> list[str]:
    """Field names that differ: audit rows list names, never values."""
    paths = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping) and not (
                {"value", "valueFrom"} & (set(a) | set(b))):
            paths += changed_paths(a, b, f"{prefix}{key}.")
        elif a != b:
            paths.append(f"{prefix}{key}")
    return paths


def save(
    connection: Connection | None,
    *,
    name: str,
    namespace: str,
    prepared: Prepared,
    actor: Any = None,
    managed_by: str = ManagedBy.UI,
) -> tuple[Connection, list[str]]:
    """Create or update in one transaction; returns the row and the changed field names."""
    kind = kind_of(prepared.spec)
    assert kind is not None, "validate the spec before saving it"
    before = copy.deepcopy(connection.spec) if connection is not None else {}
    encrypted = {path: crypto.encrypt(value) for path, value in prepared.literals.items()}
    with transaction.atomic():
        if connection is None:
            connection = Connection(created_by=actor if _person(actor) else None,
                                    managed_by=managed_by)
        connection.name, connection.namespace, connection.type = name, namespace, kind.name
        connection.spec = prepared.spec
        if _person(actor):
            connection.updated_by = actor
        project(connection)
        connection.save()
        keep = set(prepared.kept) | set(encrypted)
        connection.stored_secrets.exclude(field__in=keep).delete()
        for path, (ciphertext, key_id) in encrypted.items():
            ConnectionSecret.objects.update_or_create(
                connection=connection, field=path,
                defaults={"ciphertext": ciphertext, "key_id": key_id})
    changed = changed_paths(before, prepared.spec)
    changed += [f"{kind.name}.{p}" for p in prepared.literals
                if f"{kind.name}.{p}" not in changed]
    return connection, sorted(changed)


def soft_delete(connection: Connection) -> None:
    """History that names this connection stays readable; its stored secrets go at once."""
    with transaction.atomic():
        connection.deleted_at = timezone.now()
        connection.delete_reason = "manual"
        connection.save(update_fields=["deleted_at", "delete_reason", "updated_at"])
        connection.stored_secrets.all().delete()


def _person(actor: Any) -> bool:
    return getattr(actor, "is_authenticated", False) and hasattr(actor, "email")
