"""`manage.py catalog_health`: verdicts for files on disk, without a database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import django
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]
NOW = "2024-05-01T12:00:00Z"
# Nothing listens on port 1: any attempt to reach the database fails loudly.
NO_DATABASE = "postgres://nobody@127.0.0.1:1/nothing"

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: shop}
spec: {restartPolicy: Always, containers: [{name: api, image: api:1}]}
status:
  phase: Running
  startTime: "2024-05-01T09:00:00Z"
  conditions: [{type: Ready, status: "False"}]
  containerStatuses:
  - name: api
    ready: false
    restartCount: 6
    state: {waiting: {reason: CrashLoopBackOff}}
    lastState:
      terminated: {reason: OOMKilled, exitCode: 137, finishedAt: "2024-05-01T11:58:00Z"}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, generation: 2}
spec: {replicas: 2}
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
"""
CERTIFICATE = """\
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: shop-tls, namespace: shop}
status:
  notAfter: "2024-05-10T00:00:00Z"
  conditions: [{type: Ready, status: "True"}]
"""
NAMESPACE_LIST = """\
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}, status: {phase: Active}}
- {apiVersion: v1, kind: Namespace, metadata: {name: old}, status: {phase: Terminating}}
"""


@pytest.fixture(scope="module", autouse=True)
def _django() -> None:
    """call_command needs configured settings; pytest-django may or may not have done it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()


def run(*args: str, **options: Any) -> tuple[list[dict[str, Any]], str]:
    """Call the command in-process; return its JSON lines and the failure, if any."""
    out = StringIO()
    failure = ""
    try:
        call_command("catalog_health", *args, stdout=out, **options)
    except CommandError as exc:
        failure = str(exc)
    return [json.loads(line) for line in out.getvalue().splitlines()], failure


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py as an operator would, with a database URL that cannot connect."""
    env = {**os.environ, "DATABASE_URL": NO_DATABASE, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", "catalog_health", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def test_runs_without_a_database(tmp_path: Path) -> None:
    manifest = write(tmp_path / "shop.yaml", POD + "---\n" + DEPLOYMENT)

    result = manage("--now", NOW, str(manifest))

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {
            "path": str(manifest),
            "index": 0,
            "type": "Kubernetes::Pod",
            "name": "api-1",
            "health": "unhealthy",
            "status": "CrashLoopBackOff",
            "ready": False,
            "message": "container api is crash-looping: last terminated OOMKilled "
            "(exit code 137), 6 restarts",
        },
        {
            "path": str(manifest),
            "index": 1,
            "type": "Kubernetes::Deployment",
            "name": "api",
            "health": "healthy",
            "status": "Running",
            "ready": True,
            "message": "2/2 replicas ready",
        },
    ]


def test_reads_stdin() -> None:
    document = json.dumps({"InstanceId": "i-0abc", "State": {"Name": "stopping"}})

    lines, failure = run("--type", "AWS::EC2::Instance", "-", stdin=StringIO(document))

    assert failure == ""
    line = lines[0]
    assert (line["path"], line["name"], line["health"], line["status"], line["ready"]) == (
        "-",
        "i-0abc",
        "unknown",
        "Stopping",
        False,
    )


def test_unassessable_document_exits_1_after_the_others(tmp_path: Path) -> None:
    manifest = write(tmp_path / "mixed.yaml", "just a string\n---\n" + DEPLOYMENT)

    result = manage(str(manifest))

    assert result.returncode == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {"path": str(manifest), "index": 0, "error": "expected an object, got a str"}
    assert second["name"] == "api"
    assert "1 document could not be assessed" in result.stderr


def test_list_items_keep_the_document_index(tmp_path: Path) -> None:
    manifest = write(tmp_path / "ns.yaml", DEPLOYMENT + "---\n" + NAMESPACE_LIST)

    lines, failure = run(str(manifest))

    assert failure == ""
    assert [(line["index"], line["name"], line["status"]) for line in lines] == [
        (0, "api", "Running"),
        (1, "shop", "Active"),
        (1, "old", "Terminating"),
    ]


def test_kind_list_is_expanded(tmp_path: Path) -> None:
    body = NAMESPACE_LIST.replace("kind: List", "kind: NamespaceList")
    manifest = write(tmp_path / "ns.yaml", body)

    lines, _ = run(str(manifest))

    assert [line["name"] for line in lines] == ["shop", "old"]


def test_folder_means_its_data_files_sorted(tmp_path: Path) -> None:
    write(tmp_path / "b" / "deploy.yml", DEPLOYMENT)
    write(tmp_path / "a.json", json.dumps({"apiVersion": "v1", "kind": "Namespace"}))
    write(tmp_path / "notes.txt", "not a manifest")
    write(tmp_path / "c.yaml", NAMESPACE_LIST)

    lines, _ = run(str(tmp_path))

    assert [Path(line["path"]).name for line in lines] == [
        "a.json",
        "deploy.yml",
        "c.yaml",
        "c.yaml",
    ]


def test_now_option_sets_the_clock(tmp_path: Path) -> None:
    manifest = write(tmp_path / "cert.yaml", CERTIFICATE)

    early, _ = run("--now", "2024-04-01T00:00:00Z", str(manifest))
    late, _ = run("--now", NOW, str(manifest))

    assert (early[0]["health"], late[0]["health"]) == ("healthy", "warning")


def test_type_option_applies_to_documents_without_a_kind(tmp_path: Path) -> None:
    stack = {"StackName": "network", "StackStatus": "UPDATE_ROLLBACK_FAILED"}
    manifest = write(tmp_path / "stack.json", json.dumps(stack))

    lines, _ = run("--type", "AWS::CloudFormation::Stack", str(manifest))

    assert (lines[0]["type"], lines[0]["name"], lines[0]["health"]) == (
        "AWS::CloudFormation::Stack",
        "network",
        "unhealthy",
    )


def test_document_type_field_is_used_without_the_option(tmp_path: Path) -> None:
    item = "type: AWS::RDS::DBInstance\nname: orders\nDBInstanceStatus: storage-full\n"
    manifest = write(tmp_path / "rds.yaml", item)

    lines, _ = run(str(manifest))

    assert (lines[0]["type"], lines[0]["status"]) == ("AWS::RDS::DBInstance", "Storage Full")


def test_document_without_any_type_is_an_error(tmp_path: Path) -> None:
    manifest = write(tmp_path / "plain.yaml", "name: orders\nstatus: available\n")

    lines, failure = run(str(manifest))

    assert "pass --type" in lines[0]["error"]
    assert failure == "1 document could not be assessed"


def test_broken_yaml_does_not_hide_later_documents(tmp_path: Path) -> None:
    manifest = write(tmp_path / "broken.yaml", "kind: [unclosed\n---\n" + DEPLOYMENT)

    lines, failure = run(str(manifest))

    assert lines[0]["index"] == 0 and lines[0]["error"].startswith("invalid YAML")
    assert lines[1]["name"] == "api"
    assert failure


def test_missing_file_is_an_error_line(tmp_path: Path) -> None:
    lines, failure = run(str(tmp_path / "absent.yaml"))

    assert lines[0]["error"].startswith("cannot read")
    assert failure


def test_bad_now_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="RFC 3339"):
        call_command("catalog_health", "--now", "yesterday", str(tmp_path), stdout=StringIO())
