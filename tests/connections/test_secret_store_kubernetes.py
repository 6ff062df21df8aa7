"""The Kubernetes secret store: typed-in secrets live in flightdeck-conn-<name>, never in our DB."""

import base64
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError
from rest_framework.test import APIClient

from connections import resolve, store
from connections.checks import secret_keys, secret_store_cluster
from connections.errors import SecretStoreError
from connections.models import Connection, ConnectionSecret
from tests.connections.conftest import make_connection, put_secret
from tests.kube_emulator import running_emulator

pytestmark = pytest.mark.django_db

BASE = "/api/v1/connections/"
PG = {"host": "db.example.internal", "database": "app", "username": "app"}


@pytest.fixture
def kube_store(settings: Any, emulator: Any, tmp_path: Path) -> Any:
    """Secrets typed into the API go to the emulator, found through a kubeconfig file."""
    settings.FLIGHTDECK_SECRET_STORE = "kubernetes"
    settings.FLIGHTDECK_SECRET_STORE_KUBECONFIG = str(
        emulator.write_kubeconfig(tmp_path / "store-kubeconfig"))
    return emulator


@pytest.fixture
def api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def secret_data(emulator: Any, namespace: str, name: str) -> dict[str, str] | None:
    found = emulator.get("v1", "Secret", namespace, name)
    if found is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}


def create(api: APIClient, spec: dict[str, Any], name: str = "pg") -> dict[str, Any]:
    response = api.post(BASE, {"name": name, "namespace": "payments", "spec": spec},
                        format="json")
    assert response.status_code == 201, response.content
    return response.json()


def password_of(pk: str) -> str:
    return resolve.resolve(Connection.objects.get(pk=pk), purpose="test").password


def test_create_writes_a_labelled_secret_and_stores_only_a_reference(api, kube_store):
    body = create(api, {"postgres": {**PG, "password": "typed-pw-123"}})

    secret = kube_store.get("v1", "Secret", "payments", "flightdeck-conn-pg")
    assert secret["data"] == {"password": base64.b64encode(b"typed-pw-123").decode()}
    assert secret["metadata"]["labels"] == {"flightdeck.dev/connection": "pg",
                                            "app.kubernetes.io/managed-by": "flightdeck"}
    row = Connection.objects.filter(pk=body["id"]).values().get()
    assert "typed-pw-123" not in repr(row)
    assert row["password"] == {"valueFrom": {"secretKeyRef": {"name": "flightdeck-conn-pg",
                                                              "key": "password"}}}
    assert not ConnectionSecret.objects.exists()
    assert body["secrets_set"] == {"password": "from Secret flightdeck-conn-pg, key password"}


def test_the_stored_password_resolves_from_the_store_cluster(api, kube_store):
    body = create(api, {"postgres": {**PG, "password": "typed-pw-123"}})

    assert password_of(body["id"]) == "typed-pw-123"


def test_the_mask_keeps_the_password_and_a_new_one_replaces_it(api, kube_store):
    body = create(api, {"postgres": {**PG, "password": "first-pw"}})
    assert password_of(body["id"]) == "first-pw"  # now cached in this process

    kept = api.put(f"{BASE}{body['id']}/", {"name": "pg", "namespace": "payments", "spec": {
        "postgres": {**PG, "database": "reporting", "password": "***"}}}, format="json")
    assert kept.status_code == 200, kept.content
    assert secret_data(kube_store, "payments", "flightdeck-conn-pg") == {"password": "first-pw"}
    assert password_of(body["id"]) == "first-pw"

    replaced = api.put(f"{BASE}{body['id']}/", {"name": "pg", "namespace": "payments", "spec": {
        "postgres": {**PG, "password": "second-pw"}}}, format="json")
    assert replaced.status_code == 200, replaced.content
    assert secret_data(kube_store, "payments", "flightdeck-conn-pg") == {"password": "second-pw"}
    assert password_of(body["id"]) == "second-pw"
    assert not ConnectionSecret.objects.exists()


def test_nested_fields_get_flat_keys_and_a_removed_field_loses_its_key(api, kube_store):
    spec = {"http": {"url": "https://example.com", "bearer": "tok-1", "tls": {"key": "PEM-1"}}}
    body = create(api, spec, name="web")
    assert secret_data(kube_store, "payments", "flightdeck-conn-web") == {
        "bearer": "tok-1", "tls-key": "PEM-1"}

    response = api.put(f"{BASE}{body['id']}/", {"name": "web", "namespace": "payments", "spec": {
        "http": {"url": "https://example.com", "tls": {"key": "***"}}}}, format="json")

    assert response.status_code == 200, response.content
    assert secret_data(kube_store, "payments", "flightdeck-conn-web") == {"tls-key": "PEM-1"}


def test_removing_the_last_secret_field_deletes_the_secret(api, kube_store):
    body = create(api, {"postgres": {**PG, "password": "typed-pw-123"}})

    response = api.put(f"{BASE}{body['id']}/", {"name": "pg", "namespace": "payments", "spec": {
        "postgres": PG}}, format="json")

    assert response.status_code == 200, response.content
    assert kube_store.get("v1", "Secret", "payments", "flightdeck-conn-pg") is None


def test_delete_removes_the_secret(api, kube_store, root):
    body = create(api, {"postgres": {**PG, "password": "typed-pw-123"}})
    api.force_authenticate(root)

    assert api.delete(f"{BASE}{body['id']}/").status_code == 204

    assert kube_store.get("v1", "Secret", "payments", "flightdeck-conn-pg") is None
    assert Connection.objects.get(pk=body["id"]).deleted_at is not None


def test_a_rename_moves_the_kept_keys_to_the_new_secret(api, kube_store):
    body = create(api, {"postgres": {**PG, "password": "typed-pw-123"}})

    response = api.put(f"{BASE}{body['id']}/", {"name": "pg2", "namespace": "payments", "spec": {
        "postgres": {**PG, "password": "***"}}}, format="json")

    assert response.status_code == 200, response.content
    assert kube_store.get("v1", "Secret", "payments", "flightdeck-conn-pg") is None
    assert secret_data(kube_store, "payments", "flightdeck-conn-pg2") == {
        "password": "typed-pw-123"}
    assert password_of(body["id"]) == "typed-pw-123"


def test_stored_secrets_come_from_the_store_cluster_not_kubernetes_connection(kube_store,
                                                                               tmp_path):
    with running_emulator() as other:
        make_connection("other", {"kubernetes": {
            "kubeconfig": other.write_kubeconfig(tmp_path / "other").read_text()},
            "internal": True, "allowedNamespaces": ["*"]}, namespace="platform")
        connection = make_connection("pg", {"postgres": {**PG, "password": "typed-pw-123"},
                                            "kubernetesConnection": "connection://platform/other"},
                                     namespace="payments")

        assert other.get("v1", "Secret", "payments", "flightdeck-conn-pg") is None
        assert resolve.resolve(connection, purpose="test").password == "typed-pw-123"


def test_a_secret_not_written_by_flightdeck_is_never_taken_over(kube_store):
    put_secret(kube_store, "default", "flightdeck-conn-pg", {"password": "someone-elses"})

    with pytest.raises(SecretStoreError) as caught:
        make_connection("pg", {"postgres": {**PG, "password": "typed-pw-123"}})

    message = str(caught.value)
    assert "connection://default/pg" in message and "password" in message
    assert "typed-pw-123" not in message and "someone-elses" not in message
    assert not Connection.objects.exists()
    assert secret_data(kube_store, "default", "flightdeck-conn-pg") == {
        "password": "someone-elses"}


def test_a_failed_row_write_removes_the_secret_it_created(settings, kube_store):
    settings.FLIGHTDECK_SECRET_STORE = "database"
    make_connection("pg", {"postgres": {**PG, "password": "in-the-db"}})
    settings.FLIGHTDECK_SECRET_STORE = "kubernetes"
    prepared = store.separate({"postgres": {**PG, "password": "typed-pw-123"}}, frozenset())

    with pytest.raises(IntegrityError):  # a second live default/pg
        store.save(None, name="pg", namespace="default", prepared=prepared)

    assert kube_store.get("v1", "Secret", "default", "flightdeck-conn-pg") is None


def test_an_unreachable_store_names_the_connection_and_key_only(settings, tmp_path):
    settings.FLIGHTDECK_SECRET_STORE = "kubernetes"
    settings.FLIGHTDECK_SECRET_STORE_KUBECONFIG = str(tmp_path / "missing")

    with pytest.raises(SecretStoreError) as caught:
        make_connection("pg", {"postgres": {**PG, "password": "typed-pw-123"}})

    assert "FLIGHTDECK_SECRET_STORE_KUBECONFIG" in str(caught.value)
    assert "typed-pw-123" not in str(caught.value)
    assert not Connection.objects.exists()


def test_database_store_still_encrypts(settings, db):
    settings.FLIGHTDECK_SECRET_STORE = "database"

    connection = make_connection("pg", {"postgres": {**PG, "password": "in-the-db"}})

    assert ConnectionSecret.objects.filter(connection=connection, field="password").exists()
    assert resolve.resolve(connection, purpose="test").password == "in-the-db"


def test_checks_need_a_store_cluster_but_no_key_ring(settings, tmp_path):
    settings.FLIGHTDECK_SECRET_KEYS = []
    settings.FLIGHTDECK_SECRET_STORE = "kubernetes"
    settings.FLIGHTDECK_SECRET_STORE_KUBECONFIG = str(tmp_path / "missing")

    assert secret_keys(None) == []
    assert [c.id for c in secret_store_cluster(None)] == ["connections.E003"]


def test_the_edit_form_keeps_a_blank_password_and_replaces_a_typed_one(api, kube_store, client,
                                                                       alice):
    from django.urls import reverse

    body = create(api, {"postgres": {**PG, "password": "first-pw"}})
    client.force_login(alice)
    url = reverse("connections:edit", args=[body["id"]])
    form = {"name": "pg", "namespace": "payments", "host": PG["host"],
            "database": PG["database"], "username": PG["username"]}

    page = client.get(url).content.decode()
    blank = client.post(url, form)
    kept = password_of(body["id"])
    typed = client.post(url, {**form, "password": "second-pw"})

    detail = reverse("connections:detail", args=[body["id"]])
    assert (blank.status_code, blank["Location"]) == (302, detail)
    assert (typed.status_code, typed["Location"]) == (302, detail)
    assert "secret:flightdeck-conn-pg/password" not in page
    assert kept == "first-pw"
    assert password_of(body["id"]) == "second-pw"
    assert secret_data(kube_store, "payments", "flightdeck-conn-pg") == {"password": "second-pw"}
