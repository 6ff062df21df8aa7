"""Fixtures for connections: a key ring, the Kubernetes emulator, and connection builders."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from connections import resolve as resolve_module
from connections import store
from connections.api.serializers import ConnectionSerializer
from connections.models import Connection
from portal.models import ManagedBy
from tests.kube_emulator import running_emulator

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def key_ring(settings: Any) -> list[str]:
    settings.FLIGHTDECK_SECRET_KEYS = [KEY_A]
    return settings.FLIGHTDECK_SECRET_KEYS


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    resolve_module.CACHE.clear()
    yield
    resolve_module.CACHE.clear()


def make_connection(name: str, spec: dict[str, Any], *, namespace: str = "default",
                    actor: Any = None, managed_by: str = ManagedBy.API,
                    literals: bool = True) -> Connection:
    """Through the same serializer and store as the API, trusted to set `internal`."""
    serializer = ConnectionSerializer(
        data={"name": name, "namespace": namespace, "spec": spec},
        context={"literals": literals, "trusted": True})
    serializer.is_valid(raise_exception=True)
    prepared = store.separate(serializer.validated_data["spec"], frozenset())
    connection, _ = store.save(None, name=name, namespace=namespace, prepared=prepared,
                               actor=actor, managed_by=managed_by)
    return connection


@pytest.fixture
def emulator() -> Iterator[Any]:
    with running_emulator() as emu:
        yield emu


@pytest.fixture
def cluster(emulator: Any, tmp_path: Path, db: None) -> Connection:
    """A kubernetes connection to the emulator, kubeconfig stored encrypted, marked internal."""
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig").read_text()
    return make_connection("emulator", {"kubernetes": {"kubeconfig": kubeconfig},
                                        "internal": True, "allowedNamespaces": ["*"]},
                           namespace="platform")


def put_secret(emulator: Any, namespace: str, name: str, data: dict[str, str]) -> None:
    import base64

    emulator.create({"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": name, "namespace": namespace},
                     "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})


def put_configmap(emulator: Any, namespace: str, name: str, data: dict[str, str]) -> None:
    emulator.create({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": name, "namespace": namespace}, "data": data})
