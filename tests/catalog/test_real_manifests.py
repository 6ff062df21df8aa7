"""Real manifests that YAML 1.1 misreads still load: a bare `=` is a string, as in Kubernetes.

prometheus-operator's CRDs list `- =` in their `matchType` enums; PyYAML's YAML 1.1 resolver
tags that scalar `value` and safe_load has no constructor for it. Kubernetes accepts the file,
so the scraper and `manage.py catalog_health` must too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from catalog.models import ConfigItem
from catalog.scrapers.documents import DocumentError, load_one, parse
from tests.catalog.scrape_helpers import file_scraper, run_now

ROOT = Path(__file__).resolve().parents[2]
CRD = Path(__file__).resolve().parent / "fixtures" / "alertmanagerconfig-crd.yaml"
CRD_NAME = "alertmanagerconfigs.monitoring.coreos.com"
MATCH_TYPES = ["!=", "=", "=~", "!~"]
# Nothing listens on port 1: the command must not need the database at all.
NO_DATABASE = "postgres://nobody@127.0.0.1:1/nothing"


def _match_type_enum(crd: dict[str, Any]) -> list[Any]:
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    matcher = spec["properties"]["route"]["properties"]["matchers"]["items"]
    return matcher["properties"]["matchType"]["enum"]


def test_the_fixture_really_carries_a_bare_equals_sign() -> None:
    # Guards the fixture itself: quoting the `=` would make every test below pass vacuously.
    assert "\n                          - =\n" in CRD.read_text()


def test_bare_equals_sign_is_a_plain_string() -> None:
    [document] = parse(CRD.read_bytes(), CRD.name)

    assert document.error == ""
    assert _match_type_enum(document.value) == MATCH_TYPES


@pytest.mark.parametrize(("text", "expected"), [
    ("a: =\n", {"a": "="}),
    ("=: x\n", {"=": "x"}),
    ("[=, '=', =~, ==]\n", ["=", "=", "=~", "=="]),
])
def test_equals_sign_anywhere_is_a_string(text: str, expected: Any) -> None:
    [document] = parse(text.encode(), "x.yaml")

    assert (document.error, document.value) == ("", expected)
    assert load_one(text) == expected


def test_the_loader_keeps_refusing_duplicate_keys_and_alias_bombs() -> None:
    """The `=` change must not loosen anything else: both still fail, with their reasons."""
    [duplicate] = parse(b"a: =\na: x\n", "x.yaml")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(6))
    [exploded] = parse(bomb.encode(), "x.yaml")

    assert duplicate.error == "invalid YAML: duplicate key 'a' at line 2"
    assert "nodes" in exploded.error
    with pytest.raises(DocumentError, match="duplicate key 'a'"):
        load_one("a: 1\na: 2\n")
    with pytest.raises(DocumentError, match="nodes"):
        load_one(bomb)


@pytest.mark.django_db
def test_file_scraper_ingests_the_crd(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    shutil.copy(CRD, folder / CRD.name)

    run = run_now(file_scraper(folder))

    assert run.error_list == []
    assert run.status == "succeeded"
    item = ConfigItem.objects.get(name=CRD_NAME)
    assert item.type == "Kubernetes::CustomResourceDefinition"
    assert _match_type_enum(item.config) == MATCH_TYPES


def test_catalog_health_command_assesses_the_crd() -> None:
    env = {**os.environ, "DATABASE_URL": NO_DATABASE, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "catalog_health", str(CRD)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert "error" not in line, line
    assert line["type"] == "Kubernetes::CustomResourceDefinition"
    assert line["name"] == CRD_NAME
    assert line["index"] == 0 and line["path"] == str(CRD)


def test_kubeconfigs_go_through_the_same_loader() -> None:
    """A kubeconfig is a user document too: duplicate keys are refused, without quoting it."""
    from connections.errors import ConnectionFailure
    from connections.kinds.kubernetes import from_kubeconfig

    twice = "current-context: a\ncurrent-context: s3cret-b\n"

    with pytest.raises(ConnectionFailure, match="kubeconfig: not valid YAML") as refused:
        from_kubeconfig(twice)
    assert "s3cret" not in str(refused.value)
