"""Encryption at rest: round trip, rotation with several keys, the dev key and its checks."""

import pytest
from django.core.management import call_command

from connections import crypto, resolve
from connections.checks import secret_keys
from connections.errors import SecretStoreError
from connections.models import ConnectionSecret
from tests.connections.conftest import KEY_A, KEY_B, make_connection

pytestmark = pytest.mark.django_db

HTTP = {"http": {"url": "http://127.0.0.1:9/", "bearer": "b3arer-round-trip"}, "internal": True}


def test_round_trip_keeps_plaintext_out_of_the_row():
    connection = make_connection("api", HTTP)

    row = ConnectionSecret.objects.get(connection=connection, field="bearer")

    assert b"b3arer-round-trip" not in bytes(row.ciphertext)
    assert row.key_id == crypto.key_id(KEY_A)
    assert crypto.decrypt(row.ciphertext) == "b3arer-round-trip"
    assert connection.spec["http"]["bearer"] == {"valueFrom": {"stored": {"key": "bearer"}}}


def test_rotation_re_encrypts_with_the_newest_key(settings):
    connection = make_connection("api", HTTP)
    settings.FLIGHTDECK_SECRET_KEYS = [KEY_B, KEY_A]

    call_command("rotate_connection_secrets")
    settings.FLIGHTDECK_SECRET_KEYS = [KEY_B]

    row = ConnectionSecret.objects.get(connection=connection)
    assert row.key_id == crypto.key_id(KEY_B)
    assert resolve.resolve(connection, purpose="test").headers["Authorization"] == \
        "Bearer b3arer-round-trip"


def test_removing_a_key_before_rotation_names_the_problem(settings):
    connection = make_connection("api", HTTP)
    settings.FLIGHTDECK_SECRET_KEYS = [KEY_B]

    with pytest.raises(SecretStoreError, match="rotate_connection_secrets"):
        resolve.resolve(connection, purpose="test")


def test_old_keys_still_decrypt_before_rotation(settings):
    connection = make_connection("api", HTTP)
    settings.FLIGHTDECK_SECRET_KEYS = [KEY_B, KEY_A]

    assert resolve.resolve(connection, purpose="test").headers["Authorization"].endswith(
        "b3arer-round-trip")


def test_debug_without_keys_uses_a_development_key_and_warns(settings):
    settings.FLIGHTDECK_SECRET_KEYS = []
    settings.DEBUG = True

    ciphertext, key_id = crypto.encrypt("x-dev-secret")

    assert crypto.decrypt(ciphertext) == "x-dev-secret"
    assert key_id == crypto.key_id(crypto.development_key())
    assert [c.id for c in secret_keys(None)] == ["connections.W001"]


def test_production_without_keys_refuses_to_store(settings):
    settings.FLIGHTDECK_SECRET_KEYS = []
    settings.DEBUG = False

    with pytest.raises(SecretStoreError, match="FLIGHTDECK_SECRET_KEYS"):
        crypto.encrypt("x")
    assert [c.id for c in secret_keys(None)] == ["connections.E001"]


def test_a_malformed_key_is_a_system_check_error(settings):
    settings.FLIGHTDECK_SECRET_KEYS = ["not-a-fernet-key"]

    assert [c.id for c in secret_keys(None)] == ["connections.E002"]
