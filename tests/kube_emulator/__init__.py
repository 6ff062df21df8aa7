"""A Kubernetes API emulator for tests, benchmarks and local runs: kmock 0.8 with the gaps closed.

Usage from synchronous tests::

    with running_emulator(seed="demo") as emu:
        core = kubernetes.client.CoreV1Api(emu.api_client())
        emu.faults.add(method="GET", path_regex=r"/api/v1/pods$", status=429, times=2)

See server.py for the apiserver semantics it adds: plain kmock 0.8 ignores label selectors,
stamps no resourceVersion or uid, drops namespaced watch events and slows down linearly with
its request log.
"""

from .faults import Fault, FaultInjector
from .seed import demo_objects, load_seed, read_seed, synthetic_cluster
from .server import (
    ApiError,
    KubeEmulator,
    RunningEmulator,
    labels_match,
    parse_label_selector,
    running_emulator,
)

__all__ = [
    "ApiError",
    "Fault",
    "FaultInjector",
    "KubeEmulator",
    "RunningEmulator",
    "demo_objects",
    "labels_match",
    "load_seed",
    "parse_label_selector",
    "read_seed",
    "running_emulator",
    "synthetic_cluster",
]
