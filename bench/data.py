"""Deterministic synthetic Kubernetes objects: same seed, same bytes.

`python -m bench.data --size 100k --seed 1` writes newline-delimited JSON under
`.flightdeck/bench/` and prints its SHA-256, so a result file names exactly what it measured.
The skew is deliberate: a few namespaces, teams and nodes own most objects, many own one or two,
and a handful of hub items (a shared ConfigMap, a busy Node) carry thousands of edges.
"""

import argparse
import hashlib
import random
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".flightdeck" / "bench"
CLUSTER = "bench"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # fixed, so timestamps never depend on today
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what the ReplicaSet/Pod name generator uses
WORDS = (
    "api",
    "web",
    "worker",
    "auth",
    "billing",
    "search",
    "cart",
    "checkout",
    "ledger",
    "gateway",
    "notify",
    "report",
    "media",
    "catalog",
    "profile",
    "export",
    "ingest",
    "scheduler",
    "proxy",
    "metrics",
    "audit",
    "session",
    "inventory",
    "pricing",
    "shipping",
    "review",
    "feed",
    "chat",
)
TIERS = ("web", "worker", "db", "cache", "batch")
ENVS = ("prod", "staging", "dev", "qa")
HUB_NODE_SHARE = 0.09  # about 5,000 of 55k pods at 100k land on one busy node
HUB_CONFIGMAP_PODS = 0.09  # and about as many mount one shared ConfigMap
BIG_CONFIGMAP_SHARE = 0.0005  # the long tail: 100 KiB - 1 MiB ConfigMaps
CHANGE_HOWS = ("label", "configmap-key", "status")


def parse_size(text: str) -> int:
    """'10k' -> 10_000, '1m' -> 1_000_000, '2000' -> 2000."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def size_label(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    if size >= 1_000 and size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def _zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


@dataclass
class _Deployment:
    name: str
    namespace: str
    team: str
    tier: str
    env: str
    uid: str
    pods: int = 1
    replica_sets: list[tuple[str, str, str]] = field(default_factory=list)  # name, hash, uid
    config: bool = False
    secret: bool = False


@dataclass
class Plan:
    """Who owns what: decided up front so objects can be streamed one at a time."""

    size: int
    seed: int
    namespaces: list[str]
    ns_teams: dict[str, str]
    nodes: list[str]
    deployments: list[_Deployment]
    counts: dict[str, int]
    hub_share: float = 0.0  # chance that a pod in the hub namespace mounts the shared ConfigMap

    def ranges(self) -> dict[str, range]:
        """Index range of each kind in the stream, in stream order."""
        out: dict[str, range] = {}
        start = 0
        for kind in KIND_ORDER:
            out[kind] = range(start, start + self.counts[kind])
            start += self.counts[kind]
        return out


KIND_ORDER = (
    "Namespace",
    "Node",
    "Deployment",
    "ReplicaSet",
    "Pod",
    "Service",
    "ConfigMap",
    "Secret",
    "Certificate",
    "Kustomization",
)


class _Gen:
    """One seeded random stream; every draw goes through it, in a fixed order."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, n: int) -> str:
        return "".join(self.rng.choice(ALPHABET) for _ in range(n))

    def ts(self, max_days: int = 300) -> str:
        at = EPOCH - timedelta(seconds=self.rng.randrange(max_days * 86400))
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def ip(self, prefix: str) -> str:
        return f"{prefix}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def rv(self) -> str:
        return str(self.rng.randrange(10**6, 10**8))


def plan(size: int, seed: int) -> Plan:
    """Kind counts and the ownership skeleton for `size` objects."""
    g = _Gen(seed)
    rng = g.rng
    n_ns = max(4, round(size / 600))
    n_nodes = max(2, round(size / 500))
    n_deploy = max(2, round(size * 0.05))
    n_rs = max(n_deploy, round(size * 0.12))
    counts = {
        "Namespace": n_ns,
        "Node": n_nodes,
        "Deployment": n_deploy,
        "ReplicaSet": n_rs,
        "Service": max(1, round(size * 0.045)),
        "ConfigMap": max(n_ns + 1, round(size * 0.11)),
        "Secret": max(1, round(size * 0.07)),
        "Certificate": max(1, round(size * 0.012)),
        "Kustomization": max(1, round(size * 0.006)),
    }
    counts["Pod"] = size - sum(counts.values())
    if counts["Pod"] < n_deploy:
        raise ValueError(f"size {size} is too small for a realistic mix")
    n_teams = max(3, n_ns // 3)
    teams = [f"team-{i:03d}" for i in range(n_teams)]
    team_w = _zipf_weights(n_teams, 1.1)
    namespaces = [f"ns-{i:04d}" for i in range(n_ns)]
    ns_teams = {ns: rng.choices(teams, team_w)[0] for ns in namespaces}
    nodes = [f"node-{i:04d}" for i in range(n_nodes)]
    ns_w = _zipf_weights(n_ns, 1.2)
    env_w = _zipf_weights(len(ENVS), 1.5)
    deployments = []
    used: set[str] = set()
    for i in range(n_deploy):
        ns = rng.choices(namespaces, ns_w)[0]
        base = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}"
        name = base if (ns, base) not in used else f"{base}-{i}"
        used.add((ns, name))
        team = ns_teams[ns] if rng.random() < 0.85 else rng.choices(teams, team_w)[0]
        deployments.append(
            _Deployment(
                name=name,
                namespace=ns,
                team=team,
                tier=rng.choice(TIERS),
                env=rng.choices(ENVS, env_w)[0],
                uid=g.uid(),
                config=rng.random() < 0.6,
                secret=rng.random() < 0.35,
            )
        )
    # Heavy-tailed replica counts: most deployments run 1-3 pods, a few run hundreds.
    weights = [rng.paretovariate(1.3) for _ in deployments]
    for d in deployments:
        d.pods = 1
    for index in rng.choices(range(n_deploy), weights, k=counts["Pod"] - n_deploy):
        deployments[index].pods += 1
    for d in deployments:
        d.replica_sets.append((*_rs_name(g, d.name), g.uid()))
    for index in rng.choices(range(n_deploy), k=n_rs - n_deploy):
        d = deployments[index]
        d.replica_sets.append((*_rs_name(g, d.name), g.uid()))
    hub_pods = sum(d.pods for d in deployments if d.namespace == namespaces[0])
    hub_share = min(1.0, HUB_CONFIGMAP_PODS * counts["Pod"] / max(1, hub_pods))
    return Plan(size, seed, namespaces, ns_teams, nodes, deployments, counts, hub_share)


def _rs_name(g: _Gen, app: str) -> tuple[str, str]:
    template_hash = g.suffix(10)
    return f"{app}-{template_hash}", template_hash


def _meta(
    g: _Gen, name: str, namespace: str | None, labels: dict[str, str], **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(
        {
            "uid": extra.pop("uid", None) or g.uid(),
            "resourceVersion": g.rv(),
            "creationTimestamp": g.ts(),
        }
    )
    if labels:
        meta["labels"] = labels
    meta.update(extra)
    return meta


def _labels(d: _Deployment) -> dict[str, str]:
    return {
        "app": d.name,
        "app.kubernetes.io/name": d.name,
        "team": d.team,
        "tier": d.tier,
        "env": d.env,
    }


def _container(g: _Gen, d: _Deployment, image: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": d.name.split("-")[0],
        "image": image,
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "resources": {
            "requests": {
                "cpu": f"{g.rng.choice((50, 100, 250, 500))}m",
                "memory": f"{g.rng.choice((64, 128, 256, 512))}Mi",
            },
            "limits": {"memory": f"{g.rng.choice((256, 512, 1024))}Mi"},
        },
        "volumeMounts": [
            {
                "name": "kube-api-access",
                "readOnly": True,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            }
        ],
    }
    if d.config:
        container["envFrom"] = [{"configMapRef": {"name": f"{d.name}-config"}}]
    if d.secret:
        container["env"] = [
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": f"{d.name}-secret", "key": "password"}},
            }
        ]
    return container


def _image(d: _Deployment, template_hash: str) -> str:
    return f"registry.example.com/{d.team}/{d.name}:1.{sum(map(ord, template_hash)) % 40}.0"


def _namespace(g: _Gen, p: Plan, ns: str) -> dict[str, Any]:
    labels = {"kubernetes.io/metadata.name": ns, "team": p.ns_teams[ns]}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(g, ns, None, labels),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _node(g: _Gen, name: str) -> dict[str, Any]:
    zone = f"zone-{g.rng.choice('abc')}"
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": zone,
        "node.kubernetes.io/instance-type": g.rng.choice(("m5.xlarge", "m5.2xlarge")),
    }
    beat = g.ts(1)
    conditions = [
        {
            "type": t,
            "status": "False",
            "reason": f"KubeletHas{r}",
            "message": m,
            "lastHeartbeatTime": beat,
            "lastTransitionTime": g.ts(),
        }
        for t, r, m in (
            ("MemoryPressure", "SufficientMemory", "kubelet ok"),
            ("DiskPressure", "NoDiskPressure", "kubelet ok"),
            ("PIDPressure", "SufficientPID", "kubelet ok"),
        )
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": beat,
            "lastTransitionTime": g.ts(),
        }
    )
    images = [
        {
            "names": [f"registry.example.com/base/img-{i}@sha256:{g.suffix(20)}"],
            "sizeBytes": g.rng.randrange(10**7, 10**9),
        }
        for i in range(8)
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(g, name, None, labels),
        "spec": {
            "podCIDR": f"10.{g.rng.randrange(256)}.0.0/24",
            "providerID": f"aws:///{zone}/i-{g.suffix(17)}",
        },
        "status": {
            "capacity": {"cpu": "4", "memory": "16266060Ki", "pods": "110"},
            "allocatable": {"cpu": "3920m", "memory": "15115084Ki", "pods": "110"},
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": g.ip("10.0")},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.31.4",
                "osImage": "Debian GNU/Linux 12",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kernelVersion": "6.1.0-28-amd64",
                "architecture": "amd64",
            },
            "images": images,
        },
    }


def _deployment(g: _Gen, d: _Deployment) -> dict[str, Any]:
    _, template_hash, _ = d.replica_sets[0]
    replicas = d.pods
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(
            g,
            d.name,
            d.namespace,
            _labels(d),
            uid=d.uid,
            generation=3,
            annotations={"deployment.kubernetes.io/revision": "3"},
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": d.name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": _labels(d)},
                "spec": {"containers": [_container(g, d, _image(d, template_hash))]},
            },
        },
        "status": {
            "observedGeneration": 3,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "lastTransitionTime": g.ts(),
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "lastTransitionTime": g.ts(),
                },
            ],
        },
    }


def _replica_set(g: _Gen, d: _Deployment, index: int) -> dict[str, Any]:
    name, template_hash, uid = d.replica_sets[index]
    replicas = d.pods if index == 0 else 0  # older revisions are scaled to zero
    owner = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": d.name,
            "uid": d.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    labels = {"app": d.name, "pod-template-hash": template_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": _meta(g, name, d.namespace, labels, uid=uid, ownerReferences=owner),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": d.name.split("-")[0], "image": _image(d, template_hash)}
                    ]
                },
            },
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "fullyLabeledReplicas": replicas,
            "observedGeneration": 1,
        },
    }


def _pod(g: _Gen, p: Plan, d: _Deployment, hub_ns: str) -> dict[str, Any]:
    rng = g.rng
    rs_name, template_hash, rs_uid = d.replica_sets[0]
    name = f"{rs_name}-{g.suffix(5)}"
    node = p.nodes[0] if rng.random() < HUB_NODE_SHARE else rng.choice(p.nodes)
    owner = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": rs_name,
            "uid": rs_uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    labels = {"app": d.name, "team": d.team, "env": d.env, "pod-template-hash": template_hash}
    image = _image(d, template_hash)
    container: dict[str, Any] = {
        "name": d.name.split("-")[0],
        "image": image,
        "ports": [{"containerPort": 8080}],
        "resources": {
            "requests": {
                "cpu": f"{rng.choice((50, 100, 250, 500))}m",
                "memory": f"{rng.choice((64, 128, 256, 512))}Mi",
            }
        },
    }
    if d.config:
        container["envFrom"] = [{"configMapRef": {"name": f"{d.name}-config"}}]
    if d.secret:
        container["env"] = [
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": f"{d.name}-secret", "key": "password"}},
            }
        ]
    spec: dict[str, Any] = {
        "containers": [container],
        "nodeName": node,
        "serviceAccountName": "default",
    }
    if d.namespace == hub_ns and rng.random() < p.hub_share:
        spec["volumes"] = [{"name": "shared-ca", "configMap": {"name": "shared-ca"}}]
    started = g.ts()
    state: dict[str, Any] = {"running": {"startedAt": started}}
    ready = rng.random() >= 0.015
    if not ready:
        state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 5m0s restarting failed container",
            }
        }
    ready_s = "True" if ready else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(g, name, d.namespace, labels, ownerReferences=owner),
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": ready_s, "lastTransitionTime": started}
                for t in ("Ready", "ContainersReady")
            ],
            "hostIP": g.ip("10.0"),
            "podIP": g.ip("10.244"),
            "startTime": started,
            "containerStatuses": [
                {
                    "name": container["name"],
                    "ready": ready,
                    "started": ready,
                    "restartCount": rng.choice((0, 0, 0, 0, 1, 2)) if ready else 7,
                    "containerID": f"containerd://{g.suffix(16)}",
                    "state": state,
                }
            ],
        },
    }


def _service(g: _Gen, d: _Deployment) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(g, d.name, d.namespace, _labels(d)),
        "spec": {
            "selector": {"app": d.name},
            "type": "ClusterIP",
            "clusterIP": g.ip("10.96"),
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
        "status": {"loadBalancer": {}},
    }


def _pem(g: _Gen, n_bytes: int) -> str:
    body = g.rng.randbytes(n_bytes).hex()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _configmap(
    g: _Gen, name: str, ns: str, labels: dict[str, str], data: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(g, name, ns, labels),
        "data": data,
    }


def _app_config(g: _Gen, d: _Deployment) -> dict[str, str]:
    keys = g.rng.randrange(2, 7)
    return {
        f"{w.upper()}_{i}": f"{g.rng.choice(WORDS)}-{g.rng.randrange(1000)}"
        for i, w in enumerate(g.rng.sample(WORDS, keys))
    }


def _big_data(g: _Gen) -> dict[str, str]:
    """100 KiB - 1 MiB of config files: a heavy tail, most near the bottom."""
    target = min(1024 * 1024, int(100 * 1024 * g.rng.paretovariate(1.2)))
    data: dict[str, str] = {}
    i = 0
    while sum(len(v) for v in data.values()) < target:
        lines = [f"{g.rng.choice(WORDS)}.{j} = {g.rng.randbytes(24).hex()}" for j in range(400)]
        data[f"file-{i:03d}.conf"] = "\n".join(lines) + "\n"
        i += 1
    return data


def _secret(
    g: _Gen,
    name: str,
    ns: str,
    labels: dict[str, str],
    keys: tuple[str, ...],
    type_: str = "Opaque",
) -> dict[str, Any]:
    # Values are replaced by hashes, as the scraper's masking does: never plausible secrets.
    data = {k: hashlib.sha256(g.rng.randbytes(16)).hexdigest() for k in keys}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(g, name, ns, labels),
        "type": type_,
        "data": data,
    }


def _certificate(g: _Gen, d: _Deployment, i: int) -> dict[str, Any]:
    host = f"{d.name}.{d.namespace}.example.com"
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": _meta(g, f"{d.name}-tls-{i}", d.namespace, _labels(d), generation=1),
        "spec": {
            "secretName": f"{d.name}-tls-{i}",
            "dnsNames": [host],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Ready",
                    "message": "Certificate is up to date and has not expired",
                    "lastTransitionTime": g.ts(),
                    "observedGeneration": 1,
                }
            ],
            "notBefore": "2025-01-01T00:00:00Z",
            "notAfter": "2099-01-01T00:00:00Z",
            "renewalTime": "2098-12-01T00:00:00Z",
        },
    }


def _kustomization(g: _Gen, ns: str, i: int) -> dict[str, Any]:
    revision = f"main@sha1:{g.rng.randbytes(20).hex()}"
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": _meta(g, f"{ns}-apps-{i}", "flux-system", {}, generation=2),
        "spec": {
            "interval": "10m",
            "path": f"./clusters/{CLUSTER}/{ns}",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "platform"},
            "targetNamespace": ns,
        },
        "status": {
            "observedGeneration": 2,
            "lastAppliedRevision": revision,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ReconciliationSucceeded",
                    "message": f"Applied revision: {revision}",
                    "lastTransitionTime": g.ts(),
                    "observedGeneration": 2,
                }
            ],
        },
    }


def generate(size: int, seed: int) -> Iterator[dict[str, Any]]:
    """Exactly `size` objects, in KIND_ORDER, as a scraper listing kind by kind would see them."""
    p = plan(size, seed)
    g = _Gen(seed * 1_000_003 + 17)  # the plan's stream stays untouched by object details
    rng = g.rng
    hub_ns = p.namespaces[0]
    for ns in p.namespaces:
        yield _namespace(g, p, ns)
    for node in p.nodes:
        yield _node(g, node)
    for d in p.deployments:
        yield _deployment(g, d)
    for d in p.deployments:
        for index in range(len(d.replica_sets)):
            yield _replica_set(g, d, index)
    for d in p.deployments:
        for _ in range(d.pods):
            yield _pod(g, p, d, hub_ns)
    for i in range(p.counts["Service"]):
        yield _service(g, p.deployments[i % len(p.deployments)])
    yield from _configmaps(g, p, hub_ns)
    yield from _secrets(g, p)
    for i in range(p.counts["Certificate"]):
        yield _certificate(g, p.deployments[rng.randrange(len(p.deployments))], i)
    for i in range(p.counts["Kustomization"]):
        yield _kustomization(g, p.namespaces[i % len(p.namespaces)], i)


def _configmaps(g: _Gen, p: Plan, hub_ns: str) -> Iterator[dict[str, Any]]:
    left = p.counts["ConfigMap"]
    for ns in p.namespaces:
        yield _configmap(g, "kube-root-ca.crt", ns, {}, {"ca.crt": _pem(g, 500)})
        left -= 1
    yield _configmap(
        g, "shared-ca", hub_ns, {"team": p.ns_teams[hub_ns]}, {"ca-bundle.crt": _pem(g, 700)}
    )
    left -= 1
    for d in p.deployments:
        if not left:
            return
        if d.config:
            yield _configmap(g, f"{d.name}-config", d.namespace, _labels(d), _app_config(g, d))
            left -= 1
    n_big = max(1, round(p.size * BIG_CONFIGMAP_SHARE))
    for i in range(left):
        d = p.deployments[g.rng.randrange(len(p.deployments))]
        data = _big_data(g) if i < n_big else _app_config(g, d)
        yield _configmap(g, f"{d.name}-extra-{i}", d.namespace, _labels(d), data)


def _secrets(g: _Gen, p: Plan) -> Iterator[dict[str, Any]]:
    left = p.counts["Secret"]
    for d in p.deployments:
        if not left:
            return
        if d.secret:
            yield _secret(g, f"{d.name}-secret", d.namespace, _labels(d), ("password", "user"))
            left -= 1
    for i in range(left):
        d = p.deployments[g.rng.randrange(len(p.deployments))]
        yield _secret(
            g,
            f"{d.name}-tls-{i}",
            d.namespace,
            _labels(d),
            ("tls.crt", "tls.key"),
            "kubernetes.io/tls",
        )


# -- change streams (W3) ---------------------------------------------------------------------


def change_plan(size: int, seed: int, count: int) -> dict[int, str]:
    """Which objects change and how: a third each of labels, ConfigMap keys and status flips."""
    ranges = plan(size, seed).ranges()
    rng = random.Random(seed * 7_919 + count)
    per = [count // 3, count // 3, count - 2 * (count // 3)]
    chosen: dict[int, str] = {}
    pools = {"configmap-key": ranges["ConfigMap"], "status": ranges["Pod"]}
    for how, n in zip(("configmap-key", "status", "label"), (per[1], per[2], per[0]), strict=True):
        pool = pools.get(how, range(size))
        if n > len(pool):
            raise ValueError(f"{n} {how} changes asked of only {len(pool)} candidates")
        while n:
            index = rng.choice(pool)
            if index not in chosen:
                chosen[index] = how
                n -= 1
    return dict(sorted(chosen.items()))


def apply_change(obj: dict[str, Any], how: str) -> dict[str, Any]:
    """The changed copy of one object; health stays the same, so only a diff row results."""
    obj = orjson.loads(orjson.dumps(obj))
    meta = obj["metadata"]
    if how == "label":
        meta.setdefault("labels", {})["release"] = "r2"
    elif how == "configmap-key":
        key = sorted(obj["data"])[0]
        obj["data"][key] = obj["data"][key] + "\n# changed"
    elif how == "status":
        # The pod sandbox was recreated: a new IP, same phase and readiness.
        ip = obj["status"]["podIP"].rsplit(".", 1)
        obj["status"]["podIP"] = f"{ip[0]}.{(int(ip[1]) % 254) + 1}"
        obj["status"]["podIPs"] = [{"ip": obj["status"]["podIP"]}]
    else:
        raise ValueError(f"unknown change kind {how!r}")
    meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
    return obj


def changed(objects: Iterator[dict[str, Any]], changes: dict[int, str]) -> Iterator[dict[str, Any]]:
    for index, obj in enumerate(objects):
        how = changes.get(index)
        yield apply_change(obj, how) if how else obj


# -- files -----------------------------------------------------------------------------------


@dataclass
class DatasetInfo:
    path: Path
    size: int
    seed: int
    bytes: int
    sha256: str
    kinds: dict[str, int]
    changes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "seed": self.seed,
            "bytes": self.bytes,
            "avg_bytes": round(self.bytes / max(1, self.size)),
            "sha256": self.sha256,
            "kinds": self.kinds,
            "changes": self.changes,
        }


def dataset_path(size: int, seed: int, changes: int = 0) -> Path:
    tail = f"-changed{changes}" if changes else ""
    return DATA_DIR / f"k8s-{size_label(size)}-seed{seed}{tail}.ndjson"


def write(size: int, seed: int, changes: int = 0, path: Path | None = None) -> DatasetInfo:
    """Write the data set (optionally with the W3 change stream applied) as NDJSON."""
    path = path or dataset_path(size, seed, changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    objects = generate(size, seed)
    if changes:
        objects = changed(objects, change_plan(size, seed, changes))
    digest = hashlib.sha256()
    kinds: dict[str, int] = {}
    total = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for obj in objects:
            line = orjson.dumps(obj) + b"\n"
            digest.update(line)
            total += len(line)
            kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
            out.write(line)
    tmp.replace(path)
    info = DatasetInfo(path, size, seed, total, digest.hexdigest(), kinds, changes)
    path.with_suffix(".meta.json").write_bytes(orjson.dumps(info.as_dict()))
    return info


def ensure(size: int, seed: int, changes: int = 0) -> DatasetInfo:
    """Reuse a written data set when its recorded checksum still matches the file."""
    path = dataset_path(size, seed, changes)
    meta = path.with_suffix(".meta.json")
    if path.exists() and meta.exists():
        recorded = orjson.loads(meta.read_bytes())
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        if digest.hexdigest() == recorded["sha256"]:
            return DatasetInfo(
                path, size, seed, recorded["bytes"], recorded["sha256"], recorded["kinds"], changes
            )
    return write(size, seed, changes)


def read(path: Path) -> Iterator[dict[str, Any]]:
    """Stream objects back, one line at a time, as a paging list call would."""
    with path.open("rb") as f:
        for line in f:
            yield orjson.loads(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__)
    parser.add_argument("--size", default="100k")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--changes", type=int, default=0, help="apply the W3 change stream to this many objects"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    info = write(parse_size(args.size), args.seed, args.changes, args.out)
    summary = info.as_dict()
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
