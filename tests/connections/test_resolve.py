"""Resolution: EnvVar sources, the Kubernetes emulator, the cache, references and redaction."""

import logging

import pytest

from accounts.models import AuditEvent
from connections import resolve
from connections.errors import ConnectionUnavailable, SecretUnavailable
from connections.redact import REDACTOR
from tests.connections.conftest import make_connection, put_configmap, put_secret

pytestmark = pytest.mark.django_db

PG = {"host": "db.example.internal", "port": 5432, "database": "app"}


def test_env_source_reads_the_worker_environment(monkeypatch):
    monkeypatch.setenv("FD_TEST_PG_PASSWORD", "from-the-env-1")
    connection = make_connection("pg", {"postgres": {
        **PG, "username": "app",
        "password": {"valueFrom": {"env": {"name": "FD_TEST_PG_PASSWORD"}}}}})

    settings = resolve.resolve(connection, purpose="test")

    assert (settings.username, settings.password) == ("app", "from-the-env-1")
    assert "from-the-env-1" not in repr(settings)


def test_missing_env_names_connection_and_field_only(monkeypatch):
    monkeypatch.delenv("FD_TEST_MISSING", raising=False)
    connection = make_connection("pg", {"postgres": {
        **PG, "password": {"valueFrom": {"env": {"name": "FD_TEST_MISSING"}}}}})

    with pytest.raises(SecretUnavailable) as caught:
        resolve.resolve(connection, purpose="test")

    assert "connection://default/pg" in str(caught.value)
    assert "'password'" in str(caught.value) and "FD_TEST_MISSING" in str(caught.value)


def test_secret_and_configmap_refs_come_from_the_cluster(cluster, emulator):
    put_secret(emulator, "payments", "db-creds", {"password": "s3cret-from-k8s"})
    put_configmap(emulator, "payments", "db-config", {"user": "payments_ro"})
    connection = make_connection("pg", {
        "postgres": {**PG,
                     "username": {"valueFrom": {"configMapKeyRef": {"name": "db-config",
                                                                    "key": "user"}}},
                     "password": {"valueFrom": {"secretKeyRef": {"name": "db-creds",
                                                                 "key": "password"}}}},
        "kubernetesConnection": "connection://platform/emulator"}, namespace="payments")

    settings = resolve.resolve(connection, purpose="test")

    assert (settings.username, settings.password) == ("payments_ro", "s3cret-from-k8s")


def test_resolved_values_are_cached_for_sixty_seconds(cluster, emulator, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(resolve, "CACHE", resolve.ValueCache(clock=lambda: now[0]))
    put_secret(emulator, "payments", "db-creds", {"password": "first-value"})
    connection = make_connection("pg", {
        "postgres": {**PG, "password": {"valueFrom": {"secretKeyRef": {"name": "db-creds",
                                                                       "key": "password"}}}},
        "kubernetesConnection": "connection://platform/emulator"}, namespace="payments")
    assert resolve.resolve(connection, purpose="t").password == "first-value"
    emulator.delete("v1", "Secret", "payments", "db-creds")
    put_secret(emulator, "payments", "db-creds", {"password": "second-value"})

    now[0] += 59
    assert resolve.resolve(connection, purpose="t").password == "first-value"
    now[0] += 2
    assert resolve.resolve(connection, purpose="t").password == "second-value"


def test_cache_is_bounded():
    cache = resolve.ValueCache(size=3)
    for index in range(10):
        cache.get(("k", index), lambda i=index: f"v{i}")

    assert len(cache) == 3


def test_missing_secret_key_names_where_it_looked(cluster, emulator):
    put_secret(emulator, "payments", "db-creds", {"other": "zzz-not-this"})
    connection = make_connection("pg", {
        "postgres": {**PG, "password": {"valueFrom": {"secretKeyRef": {"name": "db-creds",
                                                                       "key": "password"}}}},
        "kubernetesConnection": "connection://platform/emulator"}, namespace="payments")

    with pytest.raises(SecretUnavailable, match="Secret payments/db-creds, key password"):
        resolve.resolve(connection, purpose="t")


def test_dsn_template_is_filled_and_url_quoted(monkeypatch):
    monkeypatch.setenv("FD_TEST_PW", "p@ss/word")
    connection = make_connection("pg", {"postgres": {
        "url": "postgres://$(username):$(password)@db.example.internal:6432/app",
        "username": "app", "password": {"valueFrom": {"env": {"name": "FD_TEST_PW"}}}}})

    settings = resolve.resolve(connection, purpose="t")

    assert (settings.host, settings.port, settings.password) == (
        "db.example.internal", 6432, "p@ss/word")


def test_unknown_placeholder_is_a_validation_error():
    from rest_framework.exceptions import ValidationError

    with pytest.raises(ValidationError, match="token"):
        make_connection("pg", {"postgres": {"url": "postgres://$(token)@db/app"}})


def test_overrides_win_over_stored_fields():
    connection = make_connection("pg", {"postgres": {**PG, "password": "x-stored-pw"}})

    settings = resolve.resolve(connection, purpose="t", overrides={"database": "reporting"})

    assert (settings.database, settings.password) == ("reporting", "x-stored-pw")


def test_references_respect_namespace_isolation():
    make_connection("db", {"postgres": PG}, namespace="team-b")
    make_connection("shared", {"postgres": PG, "allowedNamespaces": ["team-a"]},
                    namespace="team-b")

    with pytest.raises(ConnectionUnavailable, match="not shared with namespace team-a"):
        resolve.lookup("connection://team-b/db", namespace="team-a")
    assert resolve.lookup("connection://team-b/shared", namespace="team-a").name == "shared"
    assert resolve.lookup("connection://db", namespace="team-b").name == "db"
    with pytest.raises(ConnectionUnavailable, match="connection://team-a/db does not exist"):
        resolve.lookup("connection://db", namespace="team-a")
    with pytest.raises(ConnectionUnavailable, match="not a valid reference"):
        resolve.lookup("postgres://db", namespace="team-a")


def test_each_use_writes_an_audit_row(alice):
    connection = make_connection("pg", {"postgres": PG})

    resolve.resolve_reference("connection://pg", namespace="default", purpose="playbook run 42",
                              actor=alice)

    row = AuditEvent.objects.get(action="connection.use")
    assert (row.actor_person, row.object_id, row.changes) == (
        alice, str(connection.pk), {"purpose": "playbook run 42"})


def test_resolved_secrets_are_masked_in_logs(caplog, monkeypatch):
    monkeypatch.setenv("FD_TEST_LOGGED", "log-leak-canary-77")
    connection = make_connection("pg", {"postgres": {
        **PG, "password": {"valueFrom": {"env": {"name": "FD_TEST_LOGGED"}}}}})
    settings = resolve.resolve(connection, purpose="t")
    caplog.set_level(logging.DEBUG)

    logging.getLogger("flightdeck.test").warning("connecting with %s", settings.password)
    logging.getLogger("flightdeck.test").info("dsn=postgres://app:log-leak-canary-77@db/app")

    assert "log-leak-canary-77" not in caplog.text
    assert caplog.text.count("***") == 2
    assert REDACTOR.mask("x log-leak-canary-77 y") == "x *** y"


def test_custom_resources_never_take_literal_secrets():
    from rest_framework.exceptions import ValidationError

    with pytest.raises(ValidationError, match="never a literal"):
        make_connection("pg", {"postgres": {**PG, "password": {"value": "literal"}}},
                        literals=False)


def test_only_admins_mark_connections_internal(alice):
    from connections.api.serializers import ConnectionSerializer

    serializer = ConnectionSerializer(
        data={"name": "x", "namespace": "default", "spec": {"postgres": PG, "internal": True}},
        context={"user": alice})

    assert not serializer.is_valid()
    assert "internal" in serializer.errors["spec"]
