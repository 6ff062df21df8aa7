"""`manage.py scrape`: foreground runs with a summary and a failing exit code."""

import pytest
from django.core.management import call_command

from catalog.models import ConfigItem, ScrapeConfig

pytestmark = pytest.mark.django_db

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: adhoc, namespace: ops}\n"


def test_adhoc_path_scrape_ingests_and_prints_the_summary(manifests, capsys):
    folder = manifests("cm.yaml", CM).parent
    manifests("notes.json", '{"kind": "Runbook", "title": "restart"}')

    call_command("scrape", path=str(folder), type_prefix="Docs")

    out = capsys.readouterr().out
    assert "succeeded: 3 created" in out
    assert ConfigItem.objects.filter(name="adhoc", type="Kubernetes::ConfigMap").exists()
    assert ConfigItem.objects.filter(type="Docs::Runbook").exists()


def test_named_scrape_exits_1_when_the_run_fails(manifests, capsys):
    folder = manifests("cm.yaml", CM).parent
    config = ScrapeConfig.objects.create(namespace="ops", name="valve", spec={
        "file": [{"base": str(folder)}], "retention": {"maxDeletePercent": 0,
                                                       "staleItemAge": "0s"}})
    call_command("scrape", "ops/valve")
    (folder / "cm.yaml").unlink()
    manifests("other.yaml", CM.replace("adhoc", "other"))

    with pytest.raises(SystemExit) as exited:
        call_command("scrape", "valve")

    assert exited.value.code == 1
    assert "failed:" in capsys.readouterr().out
    assert config.runs.filter(status="failed").count() == 1
