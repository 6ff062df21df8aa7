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


def current_schema() -> str:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return yaml.safe_dump(schema, sort_keys=True, allow_unicode=True)


@pytest.mark.django_db
def test_schema_matches_the_committed_snapshot():
    text = current_schema()
    if os.environ.get("FLIGHTDECK_UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), "API schema changed: review and update the snapshot"


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
