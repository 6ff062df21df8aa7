"""Connections defined once as YAML, pointing at a Kubernetes Secret, then resolved and tested."""

import pytest
from django.core.management import CommandError, call_command

from connections import resolve
from connections.models import Connection

pytestmark = pytest.mark.django_db

MANIFEST = """
apiVersion: flightdeck.dev/v1
kind: Connection
metadata: {name: payments-db, namespace: payments}
spec:
  postgres:
    host: 127.0.0.1
    database: postgres
    username: {value: postgres}
    password: {valueFrom: {env: {name: FD_TEST_PG_PASSWORD}}}
  internal: true
"""


def test_a_manifest_creates_a_file_managed_connection_that_resolves(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("FD_TEST_PG_PASSWORD", "from-the-environment")
    path = tmp_path / "conn.yaml"
    path.write_text(MANIFEST)

    call_command("apply_connections", str(tmp_path))

    connection = Connection.objects.get(name="payments-db")
    assert connection.managed_by == "file" and connection.source_ref == f"file://{path}"
    assert resolve.resolve(connection, purpose="test").password == "from-the-environment"
    assert "payments/payments-db: created" in capsys.readouterr().out


def test_a_literal_secret_in_a_manifest_is_rejected_and_nothing_is_stored(tmp_path, capsys):
    (tmp_path / "conn.yaml").write_text(MANIFEST.replace(
        "{valueFrom: {env: {name: FD_TEST_PG_PASSWORD}}}", "hunter2-literal"))

    with pytest.raises(CommandError, match="rejected"):
        call_command("apply_connections", str(tmp_path))

    assert not Connection.objects.exists()
    err = capsys.readouterr().err
    assert "password" in err and "hunter2" not in err
