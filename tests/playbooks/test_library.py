"""The built-in playbook library: valid, loaded as files, and really run against a cluster."""

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import ConfigItem
from connections import resolve as resolve_module
from playbooks import execution, files, store
from playbooks.models import Playbook
from portal.models import ManagedBy
from tests.catalog.scrape_helpers import run_now
from tests.catalog.test_kubernetes_scraper import CLUSTER, Cluster, app, kube_scraper
from tests.connections.conftest import make_connection
from tests.kube_emulator import running_emulator

LIBRARY = Path(__file__).resolve().parents[2] / "playbooks" / "library"
EXPECTED = {"restart-workload", "scale-workload", "delete-pod", "flux-reconcile",
            "flux-suspend", "argocd-sync", "sql-query", "call-endpoint", "gitops-replicas"}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def key_ring(settings: Any) -> None:
    settings.FLIGHTDECK_SECRET_KEYS = [Fernet.generate_key().decode()]
    resolve_module.CACHE.clear()


def test_every_library_playbook_is_valid_and_loaded_as_a_file(capsys):
    call_command("apply_playbooks", str(LIBRARY))

    assert "playbooks: 9 created, 0 updated, 0 unchanged" in capsys.readouterr().out
    rows = Playbook.objects.filter(namespace="flightdeck")
    assert set(rows.values_list("name", flat=True)) == EXPECTED
    assert set(rows.values_list("managed_by", flat=True)) == {ManagedBy.FILE}
    assert all(r.source_ref.startswith(f"file://{LIBRARY}") for r in rows)

    call_command("apply_playbooks", str(LIBRARY))
    assert "0 created, 0 updated, 9 unchanged" in capsys.readouterr().out


def test_a_file_never_takes_over_a_playbook_made_elsewhere(tmp_path):
    store.save(None, name="restart-workload", namespace="flightdeck", actor=None,
               managed_by=ManagedBy.UI, spec={"title": "Mine", "actions": [
                   {"name": "x", "exec": {"script": "true"}}]})

    applied = files.apply([LIBRARY])

    assert any("flightdeck/restart-workload is managed by ui" in e for e in applied.errors)
    assert Playbook.objects.get(name="restart-workload").title == "Mine"
    assert len(applied.created) == 8


def test_a_bad_manifest_is_refused_with_its_file_and_field_path(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: flightdeck.dev/v1\nkind: Playbook\nmetadata: {name: bad}\n"
        "spec: {title: Bad, actions: [{name: a, exec: {}}]}\n")

    with pytest.raises(CommandError, match=r"bad\.yaml#0 \(default/bad\): actions\[0\]\.exec"):
        call_command("apply_playbooks", str(tmp_path))
    assert not Playbook.objects.filter(name="bad").exists()


@pytest.mark.django_db(transaction=True)
def test_restart_workload_restarts_the_deployment_in_the_cluster(tmp_path):
    files.apply([LIBRARY])
    with running_emulator() as emu:
        cluster = Cluster(emu, emu.write_kubeconfig(tmp_path / "kubeconfig", "emulator"))
        app(emu)
        run_now(kube_scraper(cluster))
        make_connection(CLUSTER, {"kubernetes": {"kubeconfig": cluster.kubeconfig.read_text()},
                                  "internal": True, "allowedNamespaces": ["*"]},
                        namespace="flightdeck")
        deployment = ConfigItem.objects.get(type="Kubernetes::Deployment", name="api")
        playbook = Playbook.objects.get(name="restart-workload")
        assert execution.applies_to(playbook, deployment)
        assert not execution.applies_to(playbook, ConfigItem.objects.get(type="Kubernetes::Pod"))

        run = execution.start(playbook, user=None, config=deployment, send=False)
        # The default names the connection after the item's cluster tag.
        assert run.parameters["connection"] == f"connection://flightdeck/{CLUSTER}"
        done = execution.execute(run.pk)

        assert done.status == "completed", done.error
        live = emu.get("apps/v1", "Deployment", "shop", "api")
        annotations = live["spec"]["template"]["metadata"]["annotations"]
        assert "kubectl.kubernetes.io/restartedAt" in annotations
