"""Pages: list, detail with usages, per-type forms whose secrets never render back."""

import re

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from catalog.models import ScrapeConfig
from connections.models import Connection
from tests.connections.conftest import make_connection

pytestmark = pytest.mark.django_db


def test_alice_creates_a_postgres_connection_through_the_form(client, alice):
    client.force_login(alice)

    response = client.post(reverse("connections:create", args=["postgres"]), {
        "name": "payments-db", "namespace": "payments", "host": "db.payments.svc",
        "port": "5432", "database": "payments", "username": "app",
        "password": "typed-in-the-form", "sslMode": "require"})

    connection = Connection.objects.get(name="payments-db")
    assert response.status_code == 302 and response["Location"] == connection.get_absolute_url()
    page = client.get(connection.get_absolute_url()).content.decode()
    assert "typed-in-the-form" not in page
    assert "password</code>: *** set — encrypted" in page
    edit = client.get(reverse("connections:edit", args=[connection.pk])).content.decode()
    assert "typed-in-the-form" not in edit and "set — encrypted" in edit


def test_each_type_has_its_own_form(client, root):
    client.force_login(root)

    slack = client.get(reverse("connections:create", args=["slack"])).content.decode()
    aws = client.get(reverse("connections:create", args=["aws"])).content.decode()

    assert 'name="channel"' in slack and 'name="region"' not in slack
    assert 'name="region"' in aws and 'name="secretKey"' in aws
    assert 'type="password"' in aws


def test_invalid_form_does_not_echo_the_secret(client, alice):
    client.force_login(alice)

    response = client.post(reverse("connections:create", args=["postgres"]), {
        "name": "Bad Name!", "namespace": "payments", "password": "echo-me-not-123",
        "port": "70000"})

    assert response.status_code == 200
    assert "echo-me-not-123" not in response.content.decode()
    assert not Connection.objects.exists()


def saved(response, connection: Connection) -> None:
    """A successful save redirects to the connection's page; a refused form renders 200."""
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == connection.get_absolute_url()


def test_blank_secret_keeps_and_replace_replaces(client, root):
    from connections import resolve

    connection = make_connection("web", {"http": {"url": "https://example.com",
                                                  "bearer": "first-bearer"}})
    client.force_login(root)
    url = reverse("connections:edit", args=[connection.pk])

    kept = client.post(url, {"name": "web", "namespace": "default",
                             "url": "https://example.com/x"})

    saved(kept, connection)
    connection.refresh_from_db()
    assert connection.url == "https://example.com/x"
    assert resolve.resolve(connection, purpose="t").headers["Authorization"].endswith(
        "first-bearer")
    detail = client.get(kept["Location"])
    assert detail.status_code == 200
    assert "https://example.com/x" in detail.content.decode()
    assert "first-bearer" not in detail.content.decode()

    replaced = client.post(url, {"name": "web", "namespace": "default",
                                 "url": "https://example.com/x", "bearer": "second-bearer"})

    saved(replaced, connection)
    connection.refresh_from_db()
    assert resolve.resolve(connection, purpose="t").headers["Authorization"].endswith(
        "second-bearer")


def test_secret_from_a_kubernetes_secret_via_the_form(client, root):
    client.force_login(root)

    response = client.post(reverse("connections:create", args=["postgres"]), {
        "name": "pg", "namespace": "payments", "host": "db",
        "password__from": "secret:db-creds/password"})

    connection = Connection.objects.get(name="pg")
    saved(response, connection)
    assert connection.password == {
        "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}
    detail = client.get(response["Location"]).content.decode()
    assert "db-creds" in detail


def test_carol_cannot_see_or_test(client, carol):
    connection = make_connection("pg", {"postgres": {"host": "db"}})
    client.force_login(carol)

    assert client.get(connection.get_absolute_url()).status_code == 404
    assert client.post(reverse("connections:test", args=[connection.pk])).status_code == 404
    assert "pg" not in client.get(reverse("connections:list")).content.decode()


def test_detail_lists_scrapers_that_reference_the_connection(client, root):
    connection = make_connection("prod", {"kubernetes": {}}, namespace="platform")
    ScrapeConfig.objects.create(name="uses-full", namespace="ops", spec={
        "kubernetes": [{"clusterName": "p", "connection": "connection://platform/prod"}]})
    ScrapeConfig.objects.create(name="uses-short", namespace="platform", spec={
        "kubernetes": [{"clusterName": "p", "connection": "connection://prod"}]})
    ScrapeConfig.objects.create(name="other-ns-short", namespace="ops", spec={
        "kubernetes": [{"clusterName": "p", "connection": "connection://prod"}]})
    client.force_login(root)

    page = client.get(connection.get_absolute_url()).content.decode()

    assert "ops/uses-full" in page and "platform/uses-short" in page
    assert "other-ns-short" not in page


def test_test_button_renders_the_result_fragment(client, bob):
    connection = make_connection("pg", {"postgres": {"host": "127.0.0.1", "port": 9}})
    assign_perm("view_connection", bob, connection)
    assign_perm("use_connection", bob, connection)
    client.force_login(bob)

    response = client.post(reverse("connections:test", args=[connection.pk]),
                           HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert 'id="test-result"' in response.content.decode()
    assert "private address" in response.content.decode()


def test_list_queries_do_not_grow_with_rows(client, root, django_assert_max_num_queries):
    for index in range(30):
        make_connection(f"pg-{index}", {"postgres": {"host": "db"}})
    client.force_login(root)

    with django_assert_max_num_queries(8):
        response = client.get(reverse("connections:list"))

    # A 302 to the login page or an error page would also be cheap: check it is the full list.
    assert response.status_code == 200
    page = response.content.decode()
    assert [i for i in range(30) if not re.search(rf"\bpg-{i}\b", page)] == []
