"""Self-test of the Kubernetes emulator through the official client over real HTTP."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.kube_emulator import (
    ApiError,
    RunningEmulator,
    labels_match,
    parse_label_selector,
    read_seed,
    running_emulator,
    synthetic_cluster,
)

WATCH_TIMEOUT = 10  # seconds; a bound on every blocking client call, never a sleep
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


@pytest.fixture
def core(emu: RunningEmulator) -> client.CoreV1Api:
    return client.CoreV1Api(emu.api_client())


def config_map(name: str, namespace: str = "team-a", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"key": name},
    }


def collect_watch(func: Any, *args: Any, sink: queue.Queue[Any], **kwargs: Any) -> threading.Thread:
    """Consume a watch on a thread, putting (type, name, rv) tuples and then None on `sink`."""

    def consume() -> None:
        try:
            stream = watch.Watch().stream(func, *args, _request_timeout=WATCH_TIMEOUT, **kwargs)
            for event in stream:
                meta = event["raw_object"].get("metadata", {})
                sink.put((event["type"], meta.get("name"), meta.get("resourceVersion")))
        except Exception as exc:
            sink.put(exc)
        sink.put(None)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread


def first_events(count: int, func: Any, *args: Any, **kwargs: Any) -> list[tuple[str, Any]]:
    """The first `count` (type, object) pairs of a watch, then stop it (no timeout to sit out)."""
    stream = watch.Watch()
    events = []
    for event in stream.stream(func, *args, timeout_seconds=5, _request_timeout=5, **kwargs):
        events.append((event["type"], event["object"]))
        if len(events) == count:
            stream.stop()
    return events


def drain(sink: queue.Queue[Any]) -> list[Any]:
    items = []
    while (item := sink.get(timeout=WATCH_TIMEOUT)) is not None:
        items.append(item)
    return items


# --- discovery ---------------------------------------------------------------------------


def test_discovery_answers_version_api_and_apis_with_and_without_trailing_slash(
    emu: RunningEmulator,
) -> None:
    api = emu.api_client()
    assert client.VersionApi(api).get_code().major == "1"
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = {group.name for group in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "apiextensions.k8s.io", "networking.k8s.io"} <= groups
    core_resources = client.CoreV1Api(api).get_api_resources(_preload_content=False)
    assert json.loads(core_resources.data)["groupVersion"] == "v1"
    for path in ("/version", "/api", "/apis", "/apis/apps/v1"):
        with urllib.request.urlopen(emu.url + path, timeout=WATCH_TIMEOUT) as response:
            assert response.status == 200
            assert json.load(response)


def test_registered_crd_is_discoverable(emu: RunningEmulator) -> None:
    emu.register_crd("example.com", "v1", "widgets", "Widget")
    api = emu.api_client()
    groups = {group.name for group in client.ApisApi(api).get_api_versions().groups}
    resources = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    assert "example.com" in groups
    assert [crd.metadata.name for crd in resources] == ["widgets.example.com"]


# --- create and update -------------------------------------------------------------------


def test_create_stamps_namespace_uid_timestamp_and_resource_version(
    core: client.CoreV1Api,
) -> None:
    body = {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    created = core.create_namespaced_config_map("team-a", body)
    assert created.metadata.namespace == "team-a"
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert int(created.metadata.resource_version) > 0
    listed = core.list_namespaced_config_map("team-a")
    assert [item.metadata.name for item in listed.items] == ["settings"]


def test_resource_version_rises_globally_across_kinds(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map("team-a", {"metadata": {"name": "one"}})
    secret = core.create_namespaced_secret("team-b", {"metadata": {"name": "two"}})
    patched = core.patch_namespaced_config_map("one", "team-a", {"data": {"k": "v"}})
    versions = [first, secret, patched]
    assert [int(v.metadata.resource_version) for v in versions] == sorted(
        int(v.metadata.resource_version) for v in versions
    )
    assert len({v.metadata.resource_version for v in versions}) == 3


def test_generate_name_gives_a_unique_name(core: client.CoreV1Api) -> None:
    body = {"metadata": {"generateName": "job-run-"}}
    names = {core.create_namespaced_config_map("team-a", body).metadata.name for _ in range(5)}
    assert len(names) == 5
    assert all(name.startswith("job-run-") and len(name) == len("job-run-") + 5 for name in names)


def test_duplicate_create_is_409_and_missing_object_is_404(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("team-a", {"metadata": {"name": "dup"}})
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_config_map("team-a", {"metadata": {"name": "dup"}})
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", "team-a")
    assert duplicate.value.status == 409
    assert json.loads(duplicate.value.body)["reason"] == "AlreadyExists"
    assert missing.value.status == 404


def test_put_replaces_the_whole_object(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map(
        "team-a", {"metadata": {"name": "cfg"}, "data": {"old": "1", "kept": "no"}}
    )
    body = {"metadata": {"name": "cfg"}, "data": {"new": "2"}}
    replaced = core.replace_namespaced_config_map("cfg", "team-a", body)
    assert replaced.data == {"new": "2"}
    assert replaced.metadata.uid == created.metadata.uid
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)


def test_stale_resource_version_on_put_or_patch_is_409(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("team-a", {"metadata": {"name": "cas"}})
    stale = created.metadata.resource_version
    core.patch_namespaced_config_map("cas", "team-a", {"data": {"edit": "ui"}})
    put_body = {"metadata": {"name": "cas", "resourceVersion": stale}, "data": {"edit": "crd"}}
    patch_body = {"metadata": {"resourceVersion": stale}, "data": {"edit": "crd"}}
    with pytest.raises(ApiException) as put_conflict:
        core.replace_namespaced_config_map("cas", "team-a", put_body)
    with pytest.raises(ApiException) as patch_conflict:
        core.patch_namespaced_config_map("cas", "team-a", patch_body)
    assert put_conflict.value.status == patch_conflict.value.status == 409
    assert core.read_namespaced_config_map("cas", "team-a").data == {"edit": "ui"}


def test_generation_counts_spec_changes_only(emu: RunningEmulator) -> None:
    emu.register_crd("example.com", "v1", "widgets", "Widget")
    emu.create(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "team-a"},
            "spec": {"size": 1},
        }
    )
    emu.patch("example.com/v1", "Widget", "team-a", "w", {"metadata": {"labels": {"a": "b"}}})
    emu.patch(
        "example.com/v1", "Widget", "team-a", "w", {"status": {"ok": True}}, subresource="status"
    )
    after_meta = emu.get("example.com/v1", "Widget", "team-a", "w")
    emu.patch("example.com/v1", "Widget", "team-a", "w", {"spec": {"size": 2}})
    after_spec = emu.get("example.com/v1", "Widget", "team-a", "w")
    assert after_meta is not None and after_spec is not None
    assert after_meta["metadata"]["generation"] == 1
    assert after_meta["status"] == {"ok": True}
    assert after_spec["metadata"]["generation"] == 2


def test_custom_object_create_returns_the_object_with_201(emu: RunningEmulator) -> None:
    emu.register_crd("example.com", "v1", "widgets", "Widget")
    api = client.CustomObjectsApi(emu.api_client())
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}}
    created = api.create_namespaced_custom_object("example.com", "v1", "team-a", "widgets", body)
    _, status, _ = api.create_namespaced_custom_object_with_http_info(
        "example.com", "v1", "team-a", "widgets", {**body, "metadata": {"name": "w2"}}
    )
    assert created["metadata"]["namespace"] == "team-a"
    assert created["metadata"]["uid"]
    assert status == 201


def test_finalizers_hold_deletion_until_removed(emu: RunningEmulator) -> None:
    held = config_map("held")
    held["metadata"]["finalizers"] = ["example.com/cleanup"]
    emu.create(held)
    marked = emu.delete("v1", "ConfigMap", "team-a", "held")
    still_there = emu.get("v1", "ConfigMap", "team-a", "held")
    emu.patch("v1", "ConfigMap", "team-a", "held", {"metadata": {"finalizers": None}})
    assert marked["metadata"]["deletionTimestamp"]
    assert still_there is not None
    assert emu.get("v1", "ConfigMap", "team-a", "held") is None


# --- selectors and paging ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["a"]),
        ("tier==web", ["a"]),
        ("tier!=web", ["b", "c"]),
        ("tier in (web, db)", ["a", "b"]),
        ("tier notin (web)", ["b", "c"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c"]),
        ("tier,env=prod", ["b"]),
    ],
)
def test_label_selector_filters_lists(
    emu: RunningEmulator, core: client.CoreV1Api, selector: str, expected: list[str]
) -> None:
    emu.create(config_map("a", tier="web"))
    emu.create(config_map("b", tier="db", env="prod"))
    emu.create(config_map("c", env="prod"))
    listed = core.list_namespaced_config_map("team-a", label_selector=selector)
    assert [item.metadata.name for item in listed.items] == expected


def test_malformed_label_selector_is_400(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map("team-a", label_selector="tier in web")
    assert bad.value.status == 400


def test_label_selector_parser_matches_kubernetes_semantics() -> None:
    requirements = parse_label_selector("a in (x,y), b notin (z), c, !d, e!=f")
    assert labels_match({"a": "x", "c": "1"}, requirements)
    assert not labels_match({"a": "x", "b": "z", "c": "1"}, requirements)
    assert not labels_match({"a": "x", "c": "1", "d": "2"}, requirements)
    assert not labels_match({"a": "x", "c": "1", "e": "f"}, requirements)


def test_paged_list_returns_continue_token_and_remaining_count(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.load([config_map(f"cm-{i}") for i in range(7)])
    first = core.list_namespaced_config_map("team-a", limit=3)
    second = core.list_namespaced_config_map("team-a", limit=3, _continue=first.metadata._continue)
    third = core.list_namespaced_config_map("team-a", limit=3, _continue=second.metadata._continue)
    pages = [first, second, third]
    names = [item.metadata.name for page in pages for item in page.items]
    assert names == [f"cm-{i}" for i in range(7)]
    assert [page.metadata.remaining_item_count for page in pages] == [4, 1, None]
    assert third.metadata._continue is None
    assert first.metadata.resource_version == emu.resource_version
    assert {page.metadata.resource_version for page in pages} == {emu.resource_version}


def test_paged_list_is_a_consistent_snapshot(emu: RunningEmulator, core: client.CoreV1Api) -> None:
    emu.load([config_map(f"cm-{i}") for i in range(4)])
    first = core.list_namespaced_config_map("team-a", limit=2)
    emu.delete("v1", "ConfigMap", "team-a", "cm-3")
    rest = core.list_namespaced_config_map("team-a", limit=2, _continue=first.metadata._continue)
    assert [item.metadata.name for item in rest.items] == ["cm-2", "cm-3"]


@pytest.mark.parametrize("how", ["expired", "garbage"])
def test_expired_or_invalid_continue_token_is_410_expired(
    emu: RunningEmulator, core: client.CoreV1Api, how: str
) -> None:
    emu.load([config_map(f"cm-{i}") for i in range(4)])
    token = core.list_namespaced_config_map("team-a", limit=2).metadata._continue
    if how == "expired":
        emu.compact()
    else:
        token = "bm90LWEtdG9rZW4="
    with pytest.raises(ApiException) as gone:
        core.list_namespaced_config_map("team-a", limit=2, _continue=token)
    status = json.loads(gone.value.body)
    assert gone.value.status == 410
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Expired", 410)


# --- watches -----------------------------------------------------------------------------


def test_namespaced_watch_streams_added_modified_deleted_live(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    sink: queue.Queue[Any] = queue.Queue()
    thread = collect_watch(core.list_namespaced_config_map, "team-a", sink=sink, timeout_seconds=5)
    assert emu.wait_for_watches(1)
    core.create_namespaced_config_map("team-a", {"metadata": {"name": "live"}})
    emu.create(config_map("elsewhere", namespace="team-b"))
    emu.patch("v1", "ConfigMap", "team-a", "live", {"data": {"k": "v"}})
    core.delete_namespaced_config_map("live", "team-a")
    live = [sink.get(timeout=WATCH_TIMEOUT) for _ in range(3)]
    emu.end_watches()
    rest = drain(sink)
    thread.join(timeout=WATCH_TIMEOUT)
    assert [(kind, name) for kind, name, _ in live] == [
        ("ADDED", "live"),
        ("MODIFIED", "live"),
        ("DELETED", "live"),
    ]
    assert rest == []


def test_watch_ends_after_timeout_seconds(emu: RunningEmulator, core: client.CoreV1Api) -> None:
    started = time.monotonic()
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, "team-a", timeout_seconds=1, _request_timeout=(5, 5)
        )
    )
    assert events == []
    assert time.monotonic() - started >= 1


def test_watch_replays_current_objects_as_added(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.load([config_map("a", tier="db"), config_map("b", tier="web")])
    events = first_events(1, core.list_namespaced_config_map, "team-a", label_selector="tier=web")
    assert [(kind, obj.metadata.name) for kind, obj in events] == [("ADDED", "b")]


def test_watch_from_resource_version_replays_only_later_events(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.create(config_map("before"))
    since = core.list_namespaced_config_map("team-a").metadata.resource_version
    emu.create(config_map("after"))
    emu.patch("v1", "ConfigMap", "team-a", "before", {"data": {"x": "y"}})
    events = first_events(2, core.list_namespaced_config_map, "team-a", resource_version=since)
    assert [(kind, obj.metadata.name) for kind, obj in events] == [
        ("ADDED", "after"),
        ("MODIFIED", "before"),
    ]


def test_watch_from_compacted_resource_version_is_410(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.create(config_map("a"))
    old = emu.resource_version
    emu.create(config_map("b"))
    emu.compact()
    with pytest.raises(ApiException) as gone:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map,
                "team-a",
                resource_version=old,
                timeout_seconds=1,
                _request_timeout=WATCH_TIMEOUT,
            )
        )
    assert gone.value.status == 410


def test_object_leaving_a_selector_is_deleted_for_that_watch(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.create(config_map("a", tier="web"))
    since = emu.resource_version
    emu.patch("v1", "ConfigMap", "team-a", "a", {"metadata": {"labels": {"tier": "db"}}})
    events = first_events(
        1,
        core.list_namespaced_config_map,
        "team-a",
        label_selector="tier=web",
        resource_version=since,
    )
    assert [(kind, obj.metadata.labels) for kind, obj in events] == [("DELETED", {"tier": "db"})]


# --- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 500])
def test_injected_error_answers_then_clears(emu: RunningEmulator, code: int) -> None:
    core = client.CoreV1Api(emu.api_client(retries=False))
    fault = emu.faults.add(
        method="GET", path_regex=r"/api/v1/namespaces/team-a/configmaps$", status=code, times=2
    )
    failures = []
    for _ in range(2):
        with pytest.raises(ApiException) as failed:
            core.list_namespaced_config_map("team-a")
        failures.append(failed.value)
    core.list_namespaced_config_map("team-a")
    assert [failure.status for failure in failures] == [code, code]
    assert json.loads(failures[0].body)["code"] == code
    assert fault.hits == 2
    assert (failures[0].headers or {}).get("Retry-After") == ("1" if code == 429 else None)


def test_default_client_retries_429_with_retry_after(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    fault = emu.faults.add(path_regex=r"/configmaps$", status=429, retry_after=0, times=2)
    listed = core.list_namespaced_config_map("team-a")
    assert listed.items == []
    assert fault.hits == 2


def test_injected_delay_outlasts_the_client_timeout(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.faults.add(method="GET", path_regex=r"/configmaps$", delay=30)
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_namespaced_config_map("team-a", _request_timeout=0.2)


def test_dropped_watch_ends_the_stream_after_n_events(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.load([config_map(f"cm-{i}") for i in range(5)])
    emu.faults.add(watch=True, drop_after=2, times=1)
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, "team-a", timeout_seconds=30, _request_timeout=5
        )
    )
    assert [e["object"].metadata.name for e in events] == ["cm-0", "cm-1"]


def test_aborted_watch_breaks_the_connection(emu: RunningEmulator, core: client.CoreV1Api) -> None:
    emu.load([config_map(f"cm-{i}") for i in range(3)])
    emu.faults.add(watch=True, drop_after=1, abort=True)
    seen = []
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for event in watch.Watch().stream(
            core.list_namespaced_config_map, "team-a", timeout_seconds=30, _request_timeout=5
        ):
            seen.append(event["object"].metadata.name)
    assert seen == ["cm-0"]


def test_forced_gone_on_watch_is_a_410_error_event(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.faults.add(watch=True, gone=True)
    with pytest.raises(ApiException) as gone:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "team-a", timeout_seconds=5, _request_timeout=5
            )
        )
    assert gone.value.status == 410


# --- helpers, seeds, CLI and performance ---------------------------------------------------


def test_sync_helpers_raise_api_errors(emu: RunningEmulator) -> None:
    emu.create(config_map("a"))
    with pytest.raises(ApiError) as duplicate:
        emu.create(config_map("a"))
    assert duplicate.value.status == 409
    assert emu.list("v1", "ConfigMap", "team-a") == [emu.get("v1", "ConfigMap", "team-a", "a")]


def test_request_latency_does_not_grow_with_request_count(
    emu: RunningEmulator, core: client.CoreV1Api
) -> None:
    emu.load([config_map(f"cm-{i}") for i in range(20)])
    for _ in range(500):
        core.read_namespaced_config_map("cm-7", "team-a")
    # kmock rescans its whole request log on every request; the cost stays flat only because
    # the log is kept short. Assert the cause, not a wall-clock ratio that load makes flaky.
    retained = len(emu.emulator._requests)
    assert retained <= 2 * emu.emulator.request_log_tail


def test_demo_seed_is_a_realistic_cluster() -> None:
    with running_emulator(seed="demo") as emu:
        api = emu.api_client()
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        pods = core.list_pod_for_all_namespaces().items
        waiting = [
            status.state.waiting.reason
            for pod in pods
            for status in pod.status.container_statuses or []
            if status.state.waiting
        ]
        pending = [pod.metadata.name for pod in pods if pod.status.phase == "Pending"]
        owners = {pod.metadata.owner_references[0].uid for pod in pods}
        replica_sets = {rs.metadata.uid for rs in apps.list_replica_set_for_all_namespaces().items}
        events = core.list_namespaced_event("payments").items
        custom = client.CustomObjectsApi(api)
        apps_argo = custom.list_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "argocd", "applications"
        )
        assert len(core.list_node().items) == 3
        assert waiting == ["CrashLoopBackOff"]
        assert pending == ["ledger-worker-5c6b7f9d8-q9w2e"]
        assert owners <= replica_sets
        assert "BackOff" in {event.reason for event in events}
        assert apps_argo["items"][0]["status"]["health"]["status"] == "Degraded"
        assert client.NetworkingV1Api(api).list_ingress_for_all_namespaces().items
        autoscaling = client.AutoscalingV2Api(api)
        assert autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces().items
        assert client.StorageV1Api(api).list_storage_class().items
        assert core.list_persistent_volume().items[0].status.phase == "Bound"


def test_synthetic_cluster_is_deterministic_and_loads_10k_pods() -> None:
    assert synthetic_cluster(200, seed=3) == synthetic_cluster(200, seed=3)
    assert synthetic_cluster(200, seed=3) != synthetic_cluster(200, seed=4)
    with running_emulator(seed="bench:10000") as emu:
        core = client.CoreV1Api(emu.api_client())
        page = core.list_pod_for_all_namespaces(limit=500, _preload_content=False)
        assert json.loads(page.data)["metadata"]["remainingItemCount"] == 9500
    assert sum(1 for obj in read_seed("bench:100") if obj["kind"] == "Pod") == 100


def test_kubeconfig_points_the_official_loader_at_the_emulator(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    emu.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    path = emu.write_kubeconfig(tmp_path / "nested" / "kubeconfig")
    api = config.new_client_from_config(config_file=str(path), context="emulator")
    names = [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items]
    assert names == ["team-a"]


def test_cli_serves_the_demo_seed_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "emulator.kubeconfig"
    command = [sys.executable, "-m", "tests.kube_emulator", "--port", "0", "--seed", "demo"]
    with subprocess.Popen(
        [*command, "--kubeconfig", str(kubeconfig)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ) as process:
        try:
            assert process.stdout is not None
            listening = process.stdout.readline()
            written = process.stdout.readline()
            api = config.new_client_from_config(config_file=str(kubeconfig), context="emulator")
            namespaces = {ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items}
        finally:
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=WATCH_TIMEOUT)
    assert listening.startswith("Kubernetes emulator listening on http://127.0.0.1:")
    assert "kubeconfig:" in written
    assert {"payments", "storefront"} <= namespaces
    assert exit_code == 0
