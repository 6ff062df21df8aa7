"""The one write path for connections: literals are stored away, the spec keeps references only.

Where literals go is secret_store.backend(): encrypted ConnectionSecret rows, or the connection's
Kubernetes Secret. A Kubernetes write happens before the database transaction (and is undone,
best effort, when the row cannot be written); keys no field uses any more go after it.
"""

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from connections import crypto, secret_store
from connections.errors import SecretStoreError
from connections.kinds import KINDS
from connections.kinds.base import Kind, delete_path, get_path, set_path
from connections.models import Connection, ConnectionSecret
from connections.spec import KEEP, kind_of, present
from portal.models import ManagedBy

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A spec with literals taken out: `spec` is safe to store, literals go to the secret store."""

    spec: dict[str, Any]
    literals: dict[str, str] = field(default_factory=dict, repr=False)
    kept: set[str] = field(default_factory=set)


def stored_fields(connection: Connection | None) -> frozenset[str]:
    """Fields whose value we hold: encrypted rows and the keys of the store's own Secret."""
    if connection is None or connection._state.adding:
        return frozenset()
    return frozenset(connection.stored_secrets.values_list("field", flat=True)) | frozenset(
        _owned(kind_of(connection.spec), connection.block, connection.name))


def _owned(kind: Kind | None, block: Mapping[str, Any], connection_name: str) -> dict[str, str]:
    """Field path -> data key, for fields that point at the key this store wrote for them."""
    if kind is None:
        return {}
    return {path: secret_store.data_key(path) for path in kind.secret_paths
            if secret_store.owns(get_path(block, path), connection_name, path)}


def _is_stored(value: Any, path: str) -> bool:
    return isinstance(value, Mapping) and value == {"valueFrom": {"stored": {"key": path}}}


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
        if value == KEEP or (_is_stored(value, path) and path in existing):
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
    """Create or update (secrets first, then the row in one transaction); returns changed names."""
    kind = kind_of(prepared.spec)
    assert kind is not None, "validate the spec before saving it"
    adding = connection is None or connection._state.adding
    before = copy.deepcopy(connection.spec) if connection is not None else {}
    old_kind = kind_of(before)
    old_block = (before.get(old_kind.name) or {}) if old_kind else {}
    spec = copy.deepcopy(prepared.spec)
    block = spec[kind.name]
    for path in prepared.kept:  # a kept value stays wherever it is held today
        held = get_path(old_block, path)
        if present(held):
            set_path(block, path, copy.deepcopy(held))
    literals = dict(prepared.literals)
    to_kube: dict[str, str] = {}
    if literals and secret_store.backend() == secret_store.KUBERNETES:
        for path, value in literals.items():
            to_kube[secret_store.data_key(path)] = value
            set_path(block, path, secret_store.reference(name, path))
        literals = {}
    old_owned = {} if adding else _owned(old_kind, old_block, connection.name)
    old_writer = secret_store.SecretWriter(connection.reference, connection.namespace,
                                           connection.name) if old_owned else None
    moved = old_writer is not None and (connection.namespace, connection.name) != (namespace,
                                                                                   name)
    if moved:  # a rename or a new namespace takes the kept keys to the new Secret
        carried = {path: key for path, key in _owned(kind, block, connection.name).items()
                   if path in old_owned}
        if carried:
            to_kube.update(old_writer.read(carried.values()))
            for path in carried:
                set_path(block, path, secret_store.reference(name, path))
    reference = f"connection://{namespace}/{name}"
    writer = secret_store.SecretWriter(reference, namespace, name) \
        if to_kube or old_writer is not None else None
    encrypted = {path: crypto.encrypt(value) for path, value in literals.items()}
    undo = writer.write(to_kube) if writer is not None and to_kube else None
    try:
        with transaction.atomic():
            if connection is None:
                connection = Connection(created_by=actor if _person(actor) else None,
                                        managed_by=managed_by)
            connection.name, connection.namespace, connection.type = name, namespace, kind.name
            connection.spec = spec
            if _person(actor):
                connection.updated_by = actor
            project(connection)
            connection.save()
            keep = {path for path in kind.secret_paths if _is_stored(get_path(block, path), path)}
            connection.stored_secrets.exclude(field__in=keep).delete()
            for path, (ciphertext, key_id) in encrypted.items():
                ConnectionSecret.objects.update_or_create(
                    connection=connection, field=path,
                    defaults={"ciphertext": ciphertext, "key_id": key_id})
    except BaseException:
        if undo is not None:
            _best_effort(undo)
        raise
    if writer is not None:
        _forget(namespace, name)
        if moved:
            _forget(old_writer.namespace, old_writer.connection_name)
            _best_effort(old_writer.delete)
        else:
            stale = set(old_owned.values()) - set(_owned(kind, block, name).values())
            if stale:
                _best_effort(lambda: writer.remove(stale))
    changed = changed_paths(before, spec)
    changed += [f"{kind.name}.{p}" for p in prepared.literals
                if f"{kind.name}.{p}" not in changed]
    return connection, sorted(changed)


def soft_delete(connection: Connection) -> None:
    """History that names this connection stays readable; its stored secrets go at once."""
    if _owned(kind_of(connection.spec), connection.block, connection.name):
        secret_store.SecretWriter(connection.reference, connection.namespace,
                                  connection.name).delete()
        _forget(connection.namespace, connection.name)
    with transaction.atomic():
        connection.deleted_at = timezone.now()
        connection.delete_reason = "manual"
        connection.save(update_fields=["deleted_at", "delete_reason", "updated_at"])
        connection.stored_secrets.all().delete()


def _forget(namespace: str, connection_name: str) -> None:
    """This process must not serve a replaced value from its 60-second cache."""
    from connections.resolve import CACHE

    CACHE.forget((secret_store.origin(), namespace, "secrets",
                  secret_store.secret_name(connection_name)))


def _best_effort(action: Any) -> None:
    """Cleanup after the row decided the outcome: a failure is logged (no values), not raised."""
    try:
        action()
    except SecretStoreError as exc:
        log.warning("secret store cleanup failed: %s", exc)


def _person(actor: Any) -> bool:
    return getattr(actor, "is_authenticated", False) and hasattr(actor, "email")
