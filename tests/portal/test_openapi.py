"""The OpenAPI schema is a contract: a change to it shows up in review as a snapshot diff.

Regenerate after an intended change with
`FLIGHTDECK_UPDATE_SNAPSHOTS=1 python -m portal.launcher test -- tests/portal/test_openapi.py`.
"""

import os
from pathlib import Path

import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator

SNAPSHOT = Path(__file__).resolve().parent.parent / "snapshots" / "openapi.yaml"
UPDATE_VARIABLE = "FLIGHTDECK_UPDATE_SNAPSHOTS"
REGENERATE = (f"{UPDATE_VARIABLE}=1 python -m portal.launcher test -- "
              "tests/portal/test_openapi.py")


def current_schema() -> str:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return yaml.safe_dump(schema, sort_keys=True, allow_unicode=True)


def check_snapshot(text: str, snapshot: Path) -> None:
    """Only an explicit request writes the snapshot: a missing file is a failure, because a
    test that writes what it then compares against would pass on any schema."""
    if os.environ.get(UPDATE_VARIABLE) == "1":
        snapshot.write_text(text)
    if not snapshot.exists():
        pytest.fail(f"{snapshot} is missing; generate it with `{REGENERATE}` and commit it")
    assert text == snapshot.read_text(), (
        f"API schema changed: review the diff, then regenerate with `{REGENERATE}`")


@pytest.mark.django_db
def test_schema_matches_the_committed_snapshot():
    check_snapshot(current_schema(), SNAPSHOT)


def test_a_missing_snapshot_fails_and_is_not_written(tmp_path, monkeypatch):
    monkeypatch.delenv(UPDATE_VARIABLE, raising=False)
    missing = tmp_path / "openapi.yaml"
    expected = f"missing; generate it with `{UPDATE_VARIABLE}=1 "

    with pytest.raises(pytest.fail.Exception, match=expected):
        check_snapshot("openapi: 3.0.3\n", missing)

    assert not missing.exists()


def test_a_changed_schema_fails_against_the_snapshot(tmp_path, monkeypatch):
    monkeypatch.delenv(UPDATE_VARIABLE, raising=False)
    snapshot = tmp_path / "openapi.yaml"
    snapshot.write_text("openapi: 3.0.3\n")

    with pytest.raises(AssertionError, match="API schema changed"):
        check_snapshot("openapi: 3.1.0\n", snapshot)

    assert snapshot.read_text() == "openapi: 3.0.3\n"


@pytest.mark.django_db
def test_schema_documents_bearer_tokens_and_the_search_parameter():
    schema = yaml.safe_load(current_schema())

    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    params = {p["name"] for p in schema["paths"]["/api/v1/catalog/items/"]["get"]["parameters"]}
    assert {"q", "cursor", "page_size"} <= params


@pytest.mark.django_db
def test_schema_endpoint_needs_login(client, alice):
    assert client.get("/api/schema/").status_code == 401
    client.force_login(alice)
    assert client.get("/api/schema/").status_code == 200
