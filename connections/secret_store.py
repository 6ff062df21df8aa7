"""Secrets typed into the UI or API, kept in a Kubernetes Secret when Flightdeck runs there.

FLIGHTDECK_SECRET_STORE picks the backend: `database` encrypts into ConnectionSecret (crypto.py),
`kubernetes` writes `flightdeck-conn-<connection name>` in the connection's namespace and the spec
keeps a plain `secretKeyRef`, so the value never reaches our database. `auto` means kubernetes
inside a pod. The store cluster is FLIGHTDECK_SECRET_STORE_KUBECONFIG, or the in-cluster service
account when that is empty; Secrets this store wrote are always read back from that cluster.
Messages name the connection, the Secret and the keys, never a value.
"""

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings

from connections import ssrf
from connections.errors import ConnectionFailure, SecretStoreError
from connections.kinds import kubernetes as kube
from connections.kinds.base import ProbeContext

DATABASE, KUBERNETES = "database", "kubernetes"
PREFIX = "flightdeck-conn-"
CONNECTION_LABEL = "flightdeck.dev/connection"
MANAGED_BY = ("app.kubernetes.io/managed-by", "flightdeck")
MAX_NAME = 253
_KEY_CHARS = re.compile(r"[^-_A-Za-z0-9]")


def backend() -> str:
    """Read at call time, so a settings override (tests, a reload) takes effect at once."""
    choice = str(getattr(settings, "FLIGHTDECK_SECRET_STORE", "auto") or "auto").strip().lower()
    if choice == "auto":
        return KUBERNETES if os.environ.get("KUBERNETES_SERVICE_HOST") else DATABASE
    if choice not in (DATABASE, KUBERNETES):
        raise SecretStoreError(f"FLIGHTDECK_SECRET_STORE is '{choice}'; use auto, database or "
                               "kubernetes")
    return choice


def secret_name(connection_name: str) -> str:
    return PREFIX + connection_name


def data_key(path: str) -> str:
    """`password` stays, `tls.key` becomes `tls-key`: Secret keys allow no nested paths."""
    return _KEY_CHARS.sub("-", path)


def reference(connection_name: str, path: str) -> dict[str, Any]:
    return {"valueFrom": {"secretKeyRef": {"name": secret_name(connection_name),
                                           "key": data_key(path)}}}


def holds(connection_name: str, ref: Mapping[str, Any]) -> bool:
    """A secretKeyRef naming this connection's store Secret: read it from the store cluster."""
    return ref.get("name") == secret_name(connection_name)


def owns(value: Any, connection_name: str, path: str) -> bool:
    """The field's value is the reference this store wrote for `path`."""
    return isinstance(value, Mapping) and value == reference(connection_name, path)


def _label_value(connection_name: str) -> str:
    if len(connection_name) <= 63:
        return connection_name
    return hashlib.sha256(connection_name.encode()).hexdigest()[:40]


def kubeconfig_path() -> str:
    return str(getattr(settings, "FLIGHTDECK_SECRET_STORE_KUBECONFIG", "") or "").strip()


def origin() -> str:
    """Cache key of the store cluster; `in-cluster` is the same API the resolver uses by default."""
    path = kubeconfig_path()
    return f"secret-store:{path}" if path else "in-cluster"


def cluster() -> tuple[kube.KubernetesSettings, ProbeContext]:
    """The store cluster's API settings; the operator chose it, so private addresses are fine."""
    path = kubeconfig_path()
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise SecretStoreError(f"FLIGHTDECK_SECRET_STORE_KUBECONFIG {path} cannot be read "
                                   f"({exc.__class__.__name__})") from None
        try:
            conf = kube.from_kubeconfig(text)
        except ConnectionFailure as exc:
            raise SecretStoreError(f"FLIGHTDECK_SECRET_STORE_KUBECONFIG {path}: {exc}") from None
    else:
        try:
            conf = kube.in_cluster()
        except ConnectionFailure as exc:
            raise SecretStoreError(f"The Kubernetes secret store needs a cluster: {exc}; set "
                                   "FLIGHTDECK_SECRET_STORE_KUBECONFIG or "
                                   "FLIGHTDECK_SECRET_STORE=database") from None
    return conf, ProbeContext(ssrf.Policy(allow_internal=True))


class SecretWriter:
    """Create, merge-patch and delete one connection's store Secret in the store cluster."""

    def __init__(self, connection_ref: str, namespace: str, connection_name: str) -> None:
        self.ref, self.namespace, self.connection_name = connection_ref, namespace, connection_name
        self.name = secret_name(connection_name)
        if len(self.name) > MAX_NAME:
            raise SecretStoreError(f"Connection {connection_ref}: the name is too long for a "
                                   f"Secret ({PREFIX}<name> must fit in {MAX_NAME} characters)")
        self._conf: tuple[kube.KubernetesSettings, ProbeContext] | None = None

    @property
    def where(self) -> str:
        return f"Secret {self.namespace}/{self.name}"

    def _fail(self, doing: str, keys: Iterable[str], reason: str) -> SecretStoreError:
        listed = ", ".join(sorted(keys))
        about = f" (keys {listed})" if listed else ""
        return SecretStoreError(f"Connection {self.ref}: cannot {doing} {self.where}{about}: "
                                f"{reason}")

    def _call(self, method: str, doing: str, keys: Iterable[str], *, collection: bool = False,
              body: Any = None, content_type: str = "application/json") -> tuple[int, Any]:
        if self._conf is None:
            self._conf = cluster()
        conf, ctx = self._conf
        path = f"/api/v1/namespaces/{quote(self.namespace)}/secrets"
        if not collection:
            path += f"/{quote(self.name)}"
        headers = {**conf.headers(), "Accept": "application/json"}
        payload = None
        if body is not None:
            headers["Content-Type"] = content_type
            payload = json.dumps(body).encode()
        try:
            response = ssrf.request(method, conf.server + path,
                                    policy=kube.policy_for(conf, ctx.policy), headers=headers,
                                    body=payload, tls=conf.tls(ctx.tls), follow_redirects=False)
        except ConnectionFailure as exc:
            raise self._fail(doing, keys, str(exc)) from None
        except OSError as exc:
            raise self._fail(doing, keys, "cannot reach the API server "
                                          f"({exc.__class__.__name__})") from None
        try:
            answer = response.json() if response.body else None
        except ValueError:
            answer = None
        return response.status, answer

    def _expect(self, status: int, answer: Any, doing: str, keys: Iterable[str],
                ok: tuple[int, ...] = (200, 201)) -> Any:
        if status in ok:
            return answer
        reason = answer.get("reason") if isinstance(answer, Mapping) else None
        raise self._fail(doing, keys, f"HTTP {status}" + (f" {reason}" if reason else ""))

    def current(self, keys: Iterable[str] = ()) -> dict[str, Any] | None:
        """The Secret as stored, or None; one not written by Flightdeck is never taken over."""
        status, answer = self._call("GET", "read", keys)
        if status == 404:
            return None
        secret = self._expect(status, answer, "read", keys, ok=(200,))
        labels = (secret.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY[0]) != MANAGED_BY[1]:
            raise self._fail("use", keys, f"it exists and is not labelled "
                                          f"{MANAGED_BY[0]}={MANAGED_BY[1]}")
        return secret

    def read(self, keys: Iterable[str]) -> dict[str, str]:
        """Plain values of `keys` (moving them to another Secret on a rename)."""
        keys = list(keys)
        secret = self.current(keys)
        data = (secret or {}).get("data") or {}
        missing = [k for k in keys if k not in data]
        if missing:
            raise self._fail("read", missing, "no such key")
        return {k: base64.b64decode(data[k]).decode() for k in keys}

    def write(self, values: Mapping[str, str]) -> Callable[[], None]:
        """Put `values` (data key -> plaintext) in the Secret; the undo is for a failed save."""
        keys = list(values)
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
        metadata = {"labels": {CONNECTION_LABEL: _label_value(self.connection_name),
                               MANAGED_BY[0]: MANAGED_BY[1]}}
        existing = self.current(keys)
        if existing is None:
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": self.name, "namespace": self.namespace, **metadata},
                    "data": encoded}
            status, answer = self._call("POST", "create", keys, collection=True, body=body)
            if status != 409:  # 409: created concurrently, merge into it below
                self._expect(status, answer, "create", keys)
                return self.delete
            existing = self.current(keys)
        previous = (existing or {}).get("data") or {}
        status, answer = self._call("PATCH", "update", keys,
                                    body={"metadata": metadata, "data": encoded},
                                    content_type="application/merge-patch+json")
        self._expect(status, answer, "update", keys)
        restore = {k: previous.get(k) for k in keys}
        return lambda: self._patch_data(restore, "restore")

    def _patch_data(self, data: Mapping[str, str | None], doing: str) -> None:
        status, answer = self._call("PATCH", doing, data, body={"data": dict(data)},
                                    content_type="application/merge-patch+json")
        self._expect(status, answer, doing, data)

    def remove(self, keys: Iterable[str]) -> None:
        """Drop keys no field refers to any more; the Secret goes with its last key."""
        keys = sorted(set(keys))
        existing = self.current(keys) if keys else None
        if existing is None:
            return
        left = set(existing.get("data") or {}) - set(keys)
        if not left:
            self.delete()
        else:
            self._patch_data(dict.fromkeys(keys), "remove keys from")

    def delete(self) -> None:
        if self.current() is None:
            return
        status, answer = self._call("DELETE", "delete", ())
        self._expect(status, answer, "delete", (), ok=(200, 202, 404))
