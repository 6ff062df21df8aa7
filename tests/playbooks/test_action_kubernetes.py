"""The kubernetes action against the emulator, through a real connection row and the real client."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from kubernetes import client as k8s

from connections import resolve as resolve_module
from playbooks.actions import kind
from playbooks.actions.base import ActionContext, ActionError
from tests.connections.conftest import make_connection
from tests.kube_emulator import KubeEmulator, RunningEmulator, running_emulator

pytestmark = pytest.mark.django_db

KIND = kind("kubernetes")
CONNECTION = "connection://platform/emulator"


@pytest.fixture(autouse=True)
def key_ring(settings: Any) -> None:
    settings.FLIGHTDECK_SECRET_KEYS = [Fernet.generate_key().decode()]
    resolve_module.CACHE.clear()


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_emulator() as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig").read_text()
        make_connection("emulator", {"kubernetes": {"kubeconfig": kubeconfig},
                                     "internal": True, "allowedNamespaces": ["*"]},
                        namespace="platform")
        yield emulator


def context(tmp_path: Path, spec: dict[str, Any], *, dry_run: bool = False,
            config: dict[str, Any] | None = None) -> tuple[ActionContext, list[str]]:
    lines: list[str] = []
    ctx = ActionContext(run_id=1, action_name="act", namespace="platform",
                        spec={"connection": CONNECTION, **spec}, config=config,
                        dry_run=dry_run, workdir=tmp_path, timeout=30,
                        log=lambda line, stream="system": lines.append(line))
    return ctx, lines


def deployment(name: str = "web", namespace: str = "shop", replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}


def apps(emu: RunningEmulator) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(emu.api_client())


def core(emu: RunningEmulator) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(emu.api_client())


CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: blue
"""


def test_apply_creates_a_configmap(emu, tmp_path):
    ctx, _ = context(tmp_path, {"operation": "apply", "manifest": CONFIGMAP})

    result = KIND.run(ctx)

    assert core(emu).read_namespaced_config_map("settings", "shop").data == {"mode": "blue"}
    assert result["operation"] == "apply" and result["created"] is True
    assert result["object"]["metadata"]["name"] == "settings"
    assert "managedFields" not in result["object"]["metadata"]


def test_apply_of_an_existing_object_merges_the_manifest(emu, tmp_path):
    emu.create({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "shop",
                             "managedFields": [{"manager": "kubectl"}]},
                "data": {"mode": "green", "keep": "me"}})
    ctx, _ = context(tmp_path, {"operation": "apply", "manifest": CONFIGMAP})

    result = KIND.run(ctx)

    assert core(emu).read_namespaced_config_map("settings", "shop").data == {
        "mode": "blue", "keep": "me"}
    assert result["created"] is False
    assert "managedFields" not in result["object"]["metadata"]


def test_apply_refuses_a_manifest_with_duplicate_keys(emu, tmp_path):
    ctx, _ = context(tmp_path, {"operation": "apply",
                                "manifest": CONFIGMAP + "data:\n  mode: red\n"})

    with pytest.raises(ActionError, match="duplicate key 'data'"):
        KIND.run(ctx)

    assert emu.get("v1", "ConfigMap", "shop", "settings") is None


def test_scale_sets_replicas(emu, tmp_path):
    emu.create(deployment(replicas=2))
    ctx, _ = context(tmp_path, {"operation": "scale", "replicas": 5, "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}})

    result = KIND.run(ctx)

    assert apps(emu).read_namespaced_deployment("web", "shop").spec.replicas == 5
    assert result["object"]["spec"]["replicas"] == 5


def test_scale_takes_the_target_from_the_runs_config_item(emu, tmp_path):
    emu.create(deployment(replicas=2))
    config = {"id": "x", "type": "Kubernetes::Deployment", "name": "web",
              "tags": {"namespace": "shop"}, "config": deployment(replicas=2)}
    ctx, _ = context(tmp_path, {"operation": "scale", "replicas": "0"}, config=config)

    KIND.run(ctx)

    assert apps(emu).read_namespaced_deployment("web", "shop").spec.replicas == 0


def test_restart_stamps_the_pod_template(emu, tmp_path):
    emu.create(deployment())
    ctx, _ = context(tmp_path, {"operation": "restart", "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}})

    KIND.run(ctx)

    template = apps(emu).read_namespaced_deployment("web", "shop").spec.template
    assert template.metadata.annotations["kubectl.kubernetes.io/restartedAt"].endswith("Z")
    assert template.metadata.labels == {"app": "web"}


def test_restart_refuses_a_configmap(emu, tmp_path):
    emu.create({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "shop"}})
    ctx, _ = context(tmp_path, {"operation": "restart", "target": {
        "apiVersion": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "settings"}})

    with pytest.raises(ActionError, match="restart works on Deployments"):
        KIND.run(ctx)


@pytest.mark.parametrize("patch", [
    {"type": "merge", "body": {"metadata": {"labels": {"tier": "gold"}}}},
    {"type": "strategic", "body": "metadata:\n  labels:\n    tier: gold\n"},
    {"type": "json", "body": [{"op": "add", "path": "/metadata/labels/tier", "value": "gold"}]},
])
def test_patch_adds_a_label(emu, tmp_path, patch):
    emu.create(deployment())
    ctx, _ = context(tmp_path, {"operation": "patch", "patch": patch, "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}})

    KIND.run(ctx)

    assert apps(emu).read_namespaced_deployment("web", "shop").metadata.labels == {
        "app": "web", "tier": "gold"}


def test_a_failing_json_patch_names_the_object_and_the_apis_message(emu, tmp_path):
    emu.create(deployment())
    ctx, _ = context(tmp_path, {"operation": "patch", "patch": {"type": "json", "body": [
        {"op": "replace", "path": "/metadata/annotations/missing", "value": "x"}]}, "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}})

    with pytest.raises(ActionError) as caught:
        KIND.run(ctx)

    assert "Deployment shop/web" in str(caught.value)
    assert "the JSON patch cannot be applied" in str(caught.value)
    assert caught.value.result["status"] == 422


def test_delete_removes_the_object(emu, tmp_path):
    emu.create(deployment())
    ctx, _ = context(tmp_path, {"operation": "delete", "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}})

    result = KIND.run(ctx)

    with pytest.raises(k8s.ApiException) as caught:
        apps(emu).read_namespaced_deployment("web", "shop")
    assert caught.value.status == 404
    assert result["operation"] == "delete"


def test_a_missing_target_is_named(emu, tmp_path):
    ctx, _ = context(tmp_path, {"operation": "delete", "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "gone"}})

    with pytest.raises(ActionError, match=r"Deployment shop/gone \(apps/v1\) not found") as caught:
        KIND.run(ctx)

    assert caught.value.result["status"] == 404


def test_a_conflicting_resource_version_is_named(emu, tmp_path):
    emu.create(deployment())
    ctx, _ = context(tmp_path, {"operation": "patch", "patch": {"type": "merge", "body": {
        "metadata": {"resourceVersion": "1", "labels": {"tier": "gold"}}}}, "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}})
    emu.patch("apps/v1", "Deployment", "shop", "web", {"metadata": {"labels": {"x": "y"}}})

    with pytest.raises(ActionError, match="cannot patch Deployment shop/web") as caught:
        KIND.run(ctx)

    assert caught.value.result["status"] == 409
    assert "the object has been modified" in str(caught.value)


def test_an_unknown_kind_is_named(emu, tmp_path):
    ctx, _ = context(tmp_path, {"operation": "delete", "target": {
        "apiVersion": "apps/v1", "kind": "Gadget", "namespace": "shop", "name": "x"}})

    with pytest.raises(ActionError, match="kind Gadget is not served in apps/v1"):
        KIND.run(ctx)


def test_custom_resources_are_found_through_discovery(emu, tmp_path):
    emu.register_crd("example.com", "v1", "widgets", "Widget")
    manifest = ("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n"
                "  namespace: shop\nspec:\n  size: 3\n")
    ctx, _ = context(tmp_path, {"operation": "apply", "manifest": manifest})

    KIND.run(ctx)

    assert emu.get("example.com/v1", "Widget", "shop", "w1")["spec"] == {"size": 3}


def test_dry_run_asks_the_server_and_changes_nothing(emu, tmp_path):
    emu.create(deployment(replicas=2))
    ctx, lines = context(tmp_path, {"operation": "scale", "replicas": 7, "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}},
        dry_run=True)

    result = KIND.run(ctx)

    assert result["dryRun"] == "server"
    assert result["object"]["spec"]["replicas"] == 7
    assert apps(emu).read_namespaced_deployment("web", "shop").spec.replicas == 2
    assert any("dryRun=All" in line for line in lines)


def test_server_dry_run_of_an_apply_creates_nothing(emu, tmp_path):
    ctx, _ = context(tmp_path, {"operation": "apply", "manifest": CONFIGMAP,
                                "serverDryRun": True})

    result = KIND.run(ctx)

    assert result["dryRun"] == "server" and result["object"]["data"] == {"mode": "blue"}
    assert emu.get("v1", "ConfigMap", "shop", "settings") is None


def test_a_server_that_ignores_dry_run_is_reported(emu, tmp_path, monkeypatch):
    emu.create(deployment(replicas=2))
    real = KubeEmulator.patch_object
    monkeypatch.setattr(KubeEmulator, "patch_object",  # as plain kmock did: dryRun dropped
                        lambda self, *a, dry_run=False, **kw: real(self, *a, **kw))
    ctx, _ = context(tmp_path, {"operation": "scale", "replicas": 4, "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}},
        dry_run=True)

    with pytest.raises(ActionError, match="ignored dryRun=All") as caught:
        KIND.run(ctx)

    assert caught.value.result["dryRun"] == "ignored"


def test_a_server_too_old_to_dry_run_gets_no_write_and_a_plan(emu, tmp_path, monkeypatch):
    from playbooks.actions import kubernetes as module

    emu.create(deployment(replicas=2))
    monkeypatch.setattr(module, "DRY_RUN_SINCE", (1, 99))
    ctx, _ = context(tmp_path, {"operation": "scale", "replicas": 4, "target": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}},
        dry_run=True)

    result = KIND.run(ctx)

    assert result["dryRun"] == "plan"
    assert result["plan"][0]["method"] == "PATCH"
    assert result["plan"][0]["body"] == {"spec": {"replicas": 4}}
    assert apps(emu).read_namespaced_deployment("web", "shop").spec.replicas == 2


def test_an_unknown_connection_is_an_action_error(tmp_path):
    ctx, _ = context(tmp_path, {"operation": "delete", "connection": "connection://platform/nope",
                                "target": {"apiVersion": "v1", "kind": "ConfigMap",
                                           "name": "x"}})

    with pytest.raises(ActionError, match="connection://platform/nope"):
        KIND.run(ctx)


@pytest.mark.parametrize(("spec", "path"), [
    ({"operation": "explode"}, "operation"),
    ({"operation": "apply"}, "manifest"),
    ({"operation": "patch", "patch": {"type": "yaml", "body": {}}}, "patch.type"),
    ({"operation": "scale", "replicas": -1}, "replicas"),
    ({"operation": "scale", "replicas": True}, "replicas"),
    ({"operation": "delete", "target": {"name": 3}}, "target.name"),
    ({"operation": "delete", "serverDryRun": "yes"}, "serverDryRun"),
])
def test_validate_names_the_bad_field(spec, path):
    problems = KIND.validate({"connection": CONNECTION, **spec})

    assert path in [p for p, _ in problems]


def test_validate_accepts_a_templated_replica_count():
    assert KIND.validate({"connection": CONNECTION, "operation": "scale",
                          "replicas": "{{ params.replicas }}"}) == []
