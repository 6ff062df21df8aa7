"""The health package's interface: dispatch by type, combining verdicts, clock dependence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.health import HEALTH_VALUES, REGISTRY, Health, assess, depends_on_clock, worst
from portal.errors import FlightdeckError
from tests.catalog.health_builders import NOW, rfc3339


def test_type_is_derived_from_kind() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Terminating"}}

    assert assess(namespace, now=NOW).status == "Terminating"


def test_kind_from_another_api_group_is_not_judged_as_the_core_kind() -> None:
    knative = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }

    assert assess(knative, now=NOW) == Health("healthy", "Ready", True, "ready")


def test_explicit_type_wins_over_kind() -> None:
    verdict = assess({"kind": "Thing", "State": {"Name": "running"}}, "AWS::EC2::Instance", NOW)

    assert (verdict.health, verdict.status) == ("healthy", "Running")


def test_now_defaults_to_the_current_time() -> None:
    created = rfc3339(datetime.now(UTC) - timedelta(minutes=20))
    fresh = {
        "kind": "CertificateRequest",
        "metadata": {"creationTimestamp": created},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Pending"}]},
    }

    verdict = assess(fresh)

    # Pending for 20 minutes of real time is amber; against a wrong clock it would not be.
    assert (verdict.health, verdict.ready) == ("warning", False)


def test_non_mapping_cannot_be_assessed() -> None:
    with pytest.raises(FlightdeckError, match="expected an object"):
        assess(["not", "an", "object"], "Kubernetes::Pod", NOW)  # type: ignore[arg-type]


def test_garbled_fields_do_not_crash_handlers() -> None:
    garbled = {"kind": "Deployment", "spec": {"replicas": "three"}, "status": "broken"}

    assert assess(garbled, now=NOW).health in HEALTH_VALUES


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
# Field names the handlers read, so random values land where they are looked for.
KEYS = st.sampled_from(
    [
        "phase",
        "reason",
        "conditions",
        "replicas",
        "readyReplicas",
        "updatedReplicas",
        "availableReplicas",
        "observedGeneration",
        "active",
        "failed",
        "lastScheduleTime",
        "lastSuccessfulTime",
        "notAfter",
        "notBefore",
        "loadBalancer",
        "health",
        "sync",
        "operationState",
        "desiredNumberScheduled",
        "numberAvailable",
        "currentReplicas",
        "desiredReplicas",
        "startTime",
        "lastStatus",
        "deployments",
        "containers",
    ]
)
STATE = st.dictionaries(
    st.sampled_from(["waiting", "running", "terminated"]),
    st.dictionaries(st.sampled_from(["reason", "exitCode", "finishedAt", "signal"]), JSON),
)
CONTAINER = st.fixed_dictionaries(
    {},
    optional={
        "name": JSON,
        "ready": JSON,
        "restartCount": JSON,
        "state": STATE | JSON,
        "lastState": STATE | JSON,
        "started": JSON,
    },
)
CONDITION = st.dictionaries(
    st.sampled_from(["type", "status", "reason", "message", "lastTransitionTime"]),
    st.sampled_from(["Ready", "True", "False", "Stalled", "Issuing", "2024-05-01T11:00:00Z"])
    | JSON,
)


@settings(max_examples=200, deadline=None)
@given(
    type_name=st.sampled_from(
        [*sorted(REGISTRY), "AWS::ECS::Task", "AWS::ECS::Service", "AWS::EKS::Cluster", "Other"]
    ),
    status=st.dictionaries(KEYS, JSON) | JSON,
    spec=st.dictionaries(KEYS, JSON) | JSON,
    conditions=st.lists(CONDITION, max_size=3),
    containers=st.lists(CONTAINER, max_size=2),
)
def test_any_shape_gives_a_verdict(
    type_name: str, status: Any, spec: Any, conditions: Any, containers: Any
) -> None:
    obj = {"spec": spec, "status": status, "metadata": {"generation": spec}}
    if isinstance(status, dict):
        status.update(conditions=conditions, containerStatuses=containers)

    verdict = assess(obj, type_name, NOW)

    assert verdict.health in HEALTH_VALUES
    assert isinstance(verdict.status, str) and isinstance(verdict.message, str)


# -- combining and scheduling ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("healths", "expected"),
    [
        (("healthy", "unhealthy", "warning"), "unhealthy"),
        (("healthy", "warning"), "warning"),
        (("healthy", "unknown"), "healthy"),
        (("unknown", "unknown"), "unknown"),
        ((), "unknown"),
    ],
)
def test_worst_orders_unhealthy_warning_healthy_unknown(healths: tuple[str, ...], expected: str):
    assert worst(*healths) == expected


def test_worst_accepts_verdicts() -> None:
    assert worst(Health("warning", "Degraded"), "healthy") == "warning"


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("Kubernetes::Pod", True),
        ("Kubernetes::CronJob", True),
        ("Kubernetes::Certificate", True),
        ("Kubernetes::CertificateRequest", True),
        ("Kubernetes::Namespace", True),
        ("Kubernetes::Deployment", False),
        ("AWS::EC2::Instance", False),
    ],
)
def test_clock_dependent_types(type_name: str, expected: bool) -> None:
    assert depends_on_clock(type_name) is expected
