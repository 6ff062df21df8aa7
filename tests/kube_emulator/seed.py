"""Seed data for the Kubernetes emulator: the demo cluster (YAML), synthetic benchmark clusters."""

from __future__ import annotations

import datetime
import random
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from .server import KubeEmulator

SEEDS_DIR = Path(__file__).with_name("seeds")
# Seeded objects get uids derived from their identity, so the same seed gives the same uids.
SEED_UID_NAMESPACE = uuid.UUID("6c1f3a52-8f0e-4c55-9b7a-2f4f8e0d9a11")
SYNTHETIC_EPOCH = datetime.datetime(2025, 1, 6, 9, 0, 0, tzinfo=datetime.UTC)
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(text: str) -> datetime.timedelta:
    """Parse `90s`, `10m`, `2h30m`, `3d` into a timedelta."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r} (use e.g. 90s, 10m, 2h30m, 3d)")
    return sum(
        (datetime.timedelta(**{_UNITS[unit]: int(number)}) for number, unit in parts),
        datetime.timedelta(),
    )


def _loader(now: datetime.datetime) -> type[yaml.SafeLoader]:
    """A safe YAML loader with `!ago 10m` and `!in 60d` timestamps relative to `now`."""

    class SeedLoader(yaml.SafeLoader):
        pass

    def ago(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        return _rfc3339(now - _duration(str(loader.construct_scalar(node))))  # type: ignore[arg-type]

    def ahead(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        return _rfc3339(now + _duration(str(loader.construct_scalar(node))))  # type: ignore[arg-type]

    SeedLoader.add_constructor("!ago", ago)
    SeedLoader.add_constructor("!in", ahead)
    return SeedLoader


def _jsonable(value: Any) -> Any:
    """YAML turns bare timestamps into datetimes; the API only carries strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return _rfc3339(value if value.tzinfo else value.replace(tzinfo=datetime.UTC))
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def read_yaml_objects(path: Path, now: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """Read the Kubernetes objects of a YAML file (documents and `kind: List` items), in order."""
    loader = _loader(now or datetime.datetime.now(datetime.UTC))
    with path.open(encoding="utf-8") as handle:
        documents = list(yaml.load_all(handle, Loader=loader))
    objects: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            objects.extend(_jsonable(item) for item in document.get("items") or [])
        elif isinstance(document, dict) and document.get("kind"):
            objects.append(_jsonable(document))
    return objects


def seed_uid(obj: dict[str, Any]) -> str:
    """A stable uid for a seeded object, from apiVersion, kind, namespace and name."""
    meta = obj.get("metadata") or {}
    identity = "/".join(
        [obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace") or "", meta["name"]]
    )
    return str(uuid.uuid5(SEED_UID_NAMESPACE, identity))


def link_references(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give seeded objects stable uids and fill the uids of ownerReferences and involvedObject.

    Seed files name owners by kind and name only; the uid a controller would have copied is
    resolved here from the other objects of the same seed.
    """
    by_identity: dict[tuple[str, str, str, str], str] = {}
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if meta.get("name"):
            meta.setdefault("uid", seed_uid(obj))
            identity = (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])
            by_identity[identity] = meta["uid"]
    for obj in objects:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or ""
        for owner in meta.get("ownerReferences") or []:
            identity = (owner["apiVersion"], owner["kind"], namespace, owner["name"])
            owner.setdefault("uid", by_identity.get(identity, ""))
        involved = obj.get("involvedObject") or obj.get("regarding")
        if isinstance(involved, dict) and "uid" not in involved:
            identity = (
                involved.get("apiVersion", "v1"),
                involved.get("kind", ""),
                involved.get("namespace") or "",
                involved.get("name", ""),
            )
            if identity in by_identity:
                involved["uid"] = by_identity[identity]
    return objects


def demo_objects(now: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """The demo cluster: two teams, GitOps controllers, a crash-looping pod and a Pending pod."""
    return link_references(read_yaml_objects(SEEDS_DIR / "demo.yaml", now))


def synthetic_cluster(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """N Pods (plus their Namespaces and Nodes), skewed like a real cluster, identical per seed.

    A handful of namespaces and teams own most pods (Zipf-like weights); about 3% of pods
    crash-loop and 2% are Pending, so health rollups have something to find.
    """
    rng = random.Random(seed)
    namespace_count = max(3, min(60, n // 150))
    node_count = max(3, min(50, n // 100))
    namespaces = [f"team-{i:03d}" for i in range(namespace_count)]
    namespace_weights = [1.0 / (i + 1) for i in range(namespace_count)]
    pod_namespaces = rng.choices(namespaces, weights=namespace_weights, k=n)
    nodes = [f"node-{i:03d}" for i in range(node_count)]
    apps_per_namespace = {
        ns: [f"svc-{ns[-3:]}-{j:02d}" for j in range(1 + i % 7)] for i, ns in enumerate(namespaces)
    }

    objects: list[dict[str, Any]] = []
    for i, ns in enumerate(namespaces):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": {"kubernetes.io/metadata.name": ns, "team": f"team-{i % 17:02d}"},
                    "creationTimestamp": _rfc3339(SYNTHETIC_EPOCH),
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        )
    for i, node in enumerate(nodes):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": node,
                    "labels": {
                        "kubernetes.io/hostname": node,
                        "kubernetes.io/os": "linux",
                        "topology.kubernetes.io/zone": f"eu-west-1{'abc'[i % 3]}",
                    },
                    "creationTimestamp": _rfc3339(SYNTHETIC_EPOCH),
                },
                "spec": {"podCIDR": f"10.42.{i}.0/24"},
                "status": {
                    "capacity": {"cpu": "8", "memory": "32817452Ki", "pods": "110"},
                    "allocatable": {"cpu": "7800m", "memory": "31666476Ki", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    "nodeInfo": {
                        "architecture": "amd64",
                        "bootID": str(uuid.uuid5(SEED_UID_NAMESPACE, f"boot/{node}")),
                        "containerRuntimeVersion": "containerd://1.7.20",
                        "kernelVersion": "6.5.0-1024-aws",
                        "kubeProxyVersion": "v1.30.4",
                        "kubeletVersion": "v1.30.4",
                        "machineID": uuid.uuid5(SEED_UID_NAMESPACE, f"machine/{node}").hex,
                        "operatingSystem": "linux",
                        "osImage": "Ubuntu 22.04.4 LTS",
                        "systemUUID": str(uuid.uuid5(SEED_UID_NAMESPACE, f"system/{node}")),
                    },
                },
            }
        )
    template_hashes: dict[str, str] = {}
    for i, ns in enumerate(pod_namespaces):
        app = rng.choice(apps_per_namespace[ns])
        if app not in template_hashes:
            template_hashes[app] = uuid.uuid5(SEED_UID_NAMESPACE, f"{seed}/{app}").hex[:10]
        template_hash = template_hashes[app]
        name = f"{app}-{template_hash}-{i:06x}"
        node_index = rng.randrange(node_count)
        node = nodes[node_index]
        created = _rfc3339(SYNTHETIC_EPOCH + datetime.timedelta(seconds=i * 7))
        roll = rng.random()
        phase, ready, waiting, restarts = "Running", True, None, rng.choice([0, 0, 0, 1, 2])
        if roll < 0.03:
            ready, restarts = False, rng.randint(5, 300)
            waiting = {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 5m0s restarting failed container={app} pod={name}",
            }
        elif roll < 0.05:
            phase, ready, restarts = "Pending", False, 0
            waiting = {"reason": "ContainerCreating"}
        version = f"1.{rng.randint(0, 40)}.{rng.randint(0, 9)}"
        digest = f"{rng.getrandbits(256):064x}"
        cpu = f"{rng.choice([50, 100, 250, 500])}m"
        state = {"waiting": waiting} if waiting else {"running": {"startedAt": created}}
        pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "creationTimestamp": created,
                "labels": {
                    "app.kubernetes.io/name": app,
                    "app.kubernetes.io/part-of": ns,
                    "pod-template-hash": template_hash,
                    "tier": rng.choice(["web", "api", "worker", "cache"]),
                },
            },
            "spec": {
                "nodeName": node,
                "serviceAccountName": "default",
                "restartPolicy": "Always",
                "containers": [
                    {
                        "name": app,
                        "image": f"registry.example.com/{ns}/{app}:{version}",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "resources": {
                            "requests": {"cpu": cpu, "memory": "128Mi"},
                            "limits": {"memory": f"{rng.choice([256, 512, 1024])}Mi"},
                        },
                    }
                ],
            },
            "status": {
                "phase": phase,
                "hostIP": f"10.0.{node_index // 250}.{node_index % 250 + 1}",
                "podIP": f"10.42.{node_index}.{i % 250 + 2}" if phase == "Running" else None,
                "startTime": created,
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True" if ready else "False"},
                ],
                "containerStatuses": [
                    {
                        "name": app,
                        "ready": ready,
                        "restartCount": restarts,
                        "image": f"registry.example.com/{ns}/{app}:{version}",
                        "imageID": f"registry.example.com/{ns}/{app}@sha256:{digest}",
                        "state": state,
                    }
                ],
            },
        }
        if pod["status"]["podIP"] is None:
            del pod["status"]["podIP"]
        objects.append(pod)
    return objects


def read_seed(name: str) -> list[dict[str, Any]]:
    """Objects of a named seed: `demo`, `bench:N` (or `bench:N:SEED`), or a path to a YAML file."""
    if name == "demo":
        return demo_objects()
    if name.startswith("bench:"):
        _, _, spec = name.partition(":")
        count, _, rng_seed = spec.partition(":")
        return synthetic_cluster(int(count), int(rng_seed or 1))
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return link_references(read_yaml_objects(path))
    raise ValueError(f"unknown seed {name!r}: use 'demo', 'bench:N' or a path to a YAML file")


def load_seed(emulator: KubeEmulator, name: str) -> int:
    """Load a named seed into an emulator that is not serving yet; returns the object count."""
    return emulator.load(read_seed(name))
