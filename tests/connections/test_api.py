"""API under /api/v1/connections/: write-only secrets, permissions per connection, Test."""

import pytest
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from connections.models import Connection, ConnectionSecret
from portal.models import ManagedBy
from tests.connections.conftest import make_connection
from tests.connections.servers import Listener

pytestmark = pytest.mark.django_db

BASE = "/api/v1/connections/"
SPEC = {"postgres": {"host": "db.example.internal", "database": "app", "username": "app",
                     "password": "api-written-pw"}}


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def test_create_stores_the_secret_encrypted_and_never_returns_it(api, alice):
    api.force_authenticate(alice)

    response = api.post(BASE, {"name": "pg", "namespace": "payments", "spec": SPEC},
                        format="json")

    assert response.status_code == 201, response.content
    assert b"api-written-pw" not in response.content
    body = response.json()
    assert body["spec"]["postgres"]["password"] == "***"
    assert body["secrets_set"] == {"password": "encrypted"}
    assert body["ref"] == "connection://payments/pg"
    assert ConnectionSecret.objects.filter(connection_id=body["id"], field="password").exists()
    assert b"api-written-pw" not in api.get(f"{BASE}{body['id']}/").content


def test_put_with_the_mask_keeps_the_stored_secret(api, alice):
    api.force_authenticate(alice)
    created = api.post(BASE, {"name": "pg", "spec": SPEC}, format="json").json()
    spec = created["spec"]
    spec["postgres"]["database"] = "reporting"

    response = api.put(f"{BASE}{created['id']}/", {"name": "pg", "spec": spec}, format="json")

    assert response.status_code == 200, response.content
    connection = Connection.objects.get(pk=created["id"])
    from connections import resolve

    settings = resolve.resolve(connection, purpose="t")
    assert (settings.database, settings.password) == ("reporting", "api-written-pw")


def test_references_are_shown_by_name_and_key(api, alice):
    api.force_authenticate(alice)
    spec = {"postgres": {"host": "db", "password": {
        "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}}}

    body = api.post(BASE, {"name": "pg", "spec": spec}, format="json").json()

    assert body["secrets_set"] == {"password": "from Secret db-creds, key password"}


def test_persona_visibility(api, alice, bob, carol, root):
    connection = make_connection("pg", {"postgres": {"host": "db"}}, namespace="payments")
    assign_perm("view_connection", bob, connection)

    seen = {}
    for person in (root, alice, bob, carol):
        api.force_authenticate(person)
        seen[person.email] = [c["name"] for c in api.get(BASE).json()["results"]]

    assert seen == {"root@example.com": ["pg"], "alice@example.com": [],
                    "bob@example.com": ["pg"], "carol@example.com": []}


def test_anonymous_gets_401(api):
    assert api.get(BASE).status_code == 401


def test_viewers_cannot_create(api, carol):
    api.force_authenticate(carol)

    assert api.post(BASE, {"name": "pg", "spec": SPEC}, format="json").status_code == 403


def test_change_needs_change_permission(api, bob):
    connection = make_connection("pg", {"postgres": {"host": "db"}})
    assign_perm("view_connection", bob, connection)
    api.force_authenticate(bob)

    response = api.patch(f"{BASE}{connection.pk}/", {"spec": SPEC}, format="json")

    assert response.status_code == 404


def test_resource_managed_connections_are_edited_at_their_source(api, root):
    connection = make_connection("pg", {"postgres": {"host": "db"}}, managed_by=ManagedBy.CRD)
    api.force_authenticate(root)

    response = api.patch(f"{BASE}{connection.pk}/", {"spec": SPEC}, format="json")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


def test_invalid_spec_is_a_problem_with_field_paths(api, alice):
    api.force_authenticate(alice)

    response = api.post(BASE, {"name": "pg", "spec": {"postgres": {"port": "x",
                                                                   "bogus": 1}}}, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]["spec"]
    assert set(errors) >= {"postgres.host", "postgres.port", "postgres.bogus"}


def test_test_endpoint_needs_use_and_stores_the_result(api, bob):
    with Listener() as server:
        connection = make_connection("web", {"http": {"url": server.url}, "internal": True})
        assign_perm("view_connection", bob, connection)
        api.force_authenticate(bob)
        assert api.post(f"{BASE}{connection.pk}/test/").status_code == 404
        assign_perm("use_connection", bob, connection)

        response = api.post(f"{BASE}{connection.pk}/test/")

    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["latency_ms"] > 0
    connection.refresh_from_db()
    assert connection.last_test_ok is True


def test_unsaved_test_stores_nothing(api, root):
    api.force_authenticate(root)
    with Listener() as server:
        response = api.post(f"{BASE}test/", {"spec": {
            "http": {"url": server.url, "bearer": "unsaved-t0k"}, "internal": True}},
            format="json")

    assert response.json()["ok"] is True
    assert server.hits[0].headers["Authorization"] == "Bearer unsaved-t0k"
    assert Connection.objects.count() == 0 and ConnectionSecret.objects.count() == 0


def test_unsaved_test_by_an_editor_cannot_reach_private_addresses(api, alice):
    api.force_authenticate(alice)
    with Listener() as server:
        blocked = api.post(f"{BASE}test/", {"spec": {"http": {"url": server.url}}},
                           format="json")
        refused = api.post(f"{BASE}test/", {"spec": {"http": {"url": server.url},
                                                     "internal": True}}, format="json")

    assert blocked.json()["ok"] is False and "private address" in blocked.json()["message"]
    assert refused.status_code == 400
    assert server.hits == []


def test_delete_is_soft_and_drops_stored_secrets(api, root):
    api.force_authenticate(root)
    created = api.post(BASE, {"name": "pg", "spec": SPEC}, format="json").json()

    assert api.delete(f"{BASE}{created['id']}/").status_code == 204

    assert Connection.objects.get(pk=created["id"]).deleted_at is not None
    assert not ConnectionSecret.objects.exists()
    assert api.get(f"{BASE}{created['id']}/").status_code == 404
