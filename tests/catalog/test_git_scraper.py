"""The git scraper over a real local repository at a ref."""

import subprocess

import pytest

from catalog.models import ConfigChange, ConfigItem
from tests.catalog.scrape_helpers import run_now

pytestmark = pytest.mark.django_db

CM = """apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: shop, uid: 88888888-8888-4888-8888-888888888888}}
data: {{mode: {mode}}}
"""


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "Dana Dev", "GIT_AUTHOR_EMAIL": "dana@example.com",
                        "GIT_COMMITTER_NAME": "Dana Dev",
                        "GIT_COMMITTER_EMAIL": "dana@example.com", "PATH": "/usr/bin:/bin"})


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "infra"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "apps").mkdir()
    (repo / "apps" / "settings.yaml").write_text(CM.format(mode="blue"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "tag", "v1")
    (repo / "apps" / "settings.yaml").write_text(CM.format(mode="green"))
    git(repo, "commit", "-qam", "second")
    return repo


def git_config(repo, ref):
    from catalog.models import ScrapeConfig

    return ScrapeConfig.objects.create(namespace="platform", name="infra", spec={
        "git": [{"url": str(repo), "branch": ref, "paths": ["apps/*.yaml"],
                 "clusterName": "prod"}],
    })


def test_git_scraper_reads_the_tree_at_the_ref(repo):
    run = run_now(git_config(repo, "v1"))

    assert run.status == "succeeded"
    item = ConfigItem.objects.get(type="Kubernetes::ConfigMap")
    assert item.config["data"] == {"mode": "blue"}
    assert item.source.startswith(f"git://{repo}@")


def test_moving_the_ref_records_a_diff_with_the_commit_author(repo):
    config = git_config(repo, "v1")
    run_now(config)
    config.spec["git"][0]["branch"] = "main"
    config.save()

    run_now(config)

    change = ConfigChange.objects.get(change_type="diff")
    assert change.summary == "data.mode"
    assert change.external_created_by == "Dana Dev <dana@example.com>"


def test_unreachable_repository_is_a_failed_partial_scrape_that_deletes_nothing(repo, tmp_path):
    config = git_config(repo, "main")
    run_now(config)
    config.spec["git"][0]["url"] = str(tmp_path / "missing")
    config.save()

    run = run_now(config)

    assert run.status == "partial" and run.deleted == 0
    assert "cannot check out" in run.error_list[0]["message"]
    assert ConfigItem.objects.filter(deleted_at__isnull=True).count() == 2
