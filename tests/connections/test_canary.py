"""Secret canary: a random canary planted through the UI form, the API, a
Kubernetes Secret and the worker's environment never appears, plain or base64-, URL- or
JSON-encoded, in any HTTP response, log record, table row or Redis key/value.
"""

import base64
import json
import logging
import secrets
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from django.conf import settings
from django.db import connection as db
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from connections import resolve
from connections.models import Connection
from portal.logging import JsonFormatter
from tests.connections.conftest import make_connection, put_secret
from tests.connections.servers import Listener

pytestmark = pytest.mark.django_db

ALPHABET = string.ascii_letters + string.digits
CANARY = "".join(secrets.choice(ALPHABET) for _ in range(31)) + "/"  # '/' so URL forms differ


def forms_of(value: str) -> set[str]:
    raw = value.encode()
    return {value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="), quote(value, safe=""), quote_plus(value),
            json.dumps(value)[1:-1]}


FORMS = forms_of(CANARY)


class Recorder:
    """Every response body and header the test clients saw."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, response: Any) -> Any:
        body = b"" if getattr(response, "streaming", False) else response.content
        self.texts.append(body.decode(errors="replace"))
        self.texts.append("\n".join(f"{k}: {v}" for k, v in response.items()))
        return response


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def web(recorder: Recorder) -> Client:
    class Recording(Client):
        def request(self, **request: Any) -> Any:
            return recorder.add(super().request(**request))

    return Recording()


@pytest.fixture
def api(recorder: Recorder) -> APIClient:
    class Recording(APIClient):
        def request(self, **request: Any) -> Any:
            return recorder.add(super().request(**request))

    return Recording()


def table_rows() -> Iterator[tuple[str, str]]:
    with db.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608 - catalog names
            for (row,) in cursor.fetchall():
                yield table, row


def redis_texts() -> Iterator[str]:
    from redis import Redis

    client = Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(count=500):
        yield key.decode(errors="replace")
        kind = client.type(key).decode()
        values: list[Any] = []
        if kind == "string":
            values = [client.get(key)]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [json.dumps(entry, default=str) for entry in client.xrange(key)]
        for value in values:
            yield value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def leaks(texts: Any) -> list[str]:
    return [f"{form!r} in {text[:120]!r}" for text in texts for form in FORMS if form in text]


@pytest.fixture(autouse=True)
def sweep(recorder: Recorder, caplog: pytest.LogCaptureFixture, monkeypatch: Any) -> Iterator:
    """After each test, while its rows still exist: search every surface for the canary."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FD_CANARY_ENV", f"X-Token: {CANARY}")
    yield
    assert recorder.texts, "the test made no requests to check"
    found = leaks(recorder.texts)
    # In teardown caplog.text is the teardown phase's; the test's records are kept by phase.
    records = caplog.get_records("setup") + caplog.get_records("call")
    plain, structured = logging.Formatter(), JsonFormatter()  # caplog's and production's
    found += leaks([plain.format(r) for r in records] + [structured.format(r) for r in records])
    found += [f"table {table}: {hit}" for table, row in table_rows() for hit in leaks([row])]
    found += [f"redis: {hit}" for hit in leaks(redis_texts())]
    assert found == []


@pytest.fixture
def echo() -> Iterator[Listener]:
    """A target that echoes the credentials it got, to tempt probes into quoting responses."""

    def reply(hit: Any) -> tuple[int, dict, bytes]:
        return 500, {"X-Echo": hit.headers.get("Authorization", "")}, \
            f"denied: {hit.headers.get('Authorization')}".encode()

    with Listener(routes={"/": reply}) as server:
        yield server


def test_canary_typed_into_the_ui_form(web, root, echo):
    web.force_login(root)
    create = reverse("connections:create", args=["http"])
    web.post(create, {"name": "canary-web", "namespace": "default", "url": f"{echo.url}/",
                      "password": CANARY, "username": "ops", "internal": "on"})
    connection = Connection.objects.get(name="canary-web")
    edit = reverse("connections:edit", args=[connection.pk])

    web.get(connection.get_absolute_url())
    web.get(edit)
    web.post(edit, {"name": "Not Valid!", "namespace": "default", "url": "ftp://x",
                    "password": CANARY, "bearer": CANARY})
    web.post(reverse("connections:test", args=[connection.pk]))
    web.post(reverse("connections:test", args=[connection.pk]), HTTP_HX_REQUEST="true")
    web.get(reverse("connections:list"))
    web.get(f"/api/v1/connections/{connection.pk}/")
    web.get("/api/v1/connections/")
    web.get(reverse("admin:connections_connection_change", args=[connection.pk]))

    assert any("canary-web" in row for _, row in table_rows())  # the sweep reads real rows
    assert base64.b64decode(echo.hits[0].headers["Authorization"].split()[1]).decode() == \
        f"ops:{CANARY}"


def test_canary_sent_to_the_api(api, root, echo):
    api.force_authenticate(root)
    spec = {"http": {"url": f"{echo.url}/", "bearer": CANARY}, "internal": True}
    created = api.post("/api/v1/connections/", {"name": "canary-api", "spec": spec},
                       format="json").json()
    detail = f"/api/v1/connections/{created['id']}/"

    api.get(detail)
    api.put(detail, {"name": "canary-api", "spec": {"http": {"url": 7, "bearer": CANARY,
                                                             "password": CANARY}}},
            format="json")
    api.patch(detail, {"spec": {"http": {"url": f"{echo.url}/", "bearer": {"value": CANARY},
                                         "oauth": {"clientSecret": CANARY}}}}, format="json")
    api.post(f"{detail}test/")
    api.post("/api/v1/connections/test/", {"spec": spec}, format="json")
    api.post("/api/v1/connections/test/", {"spec": {"http": {"url": CANARY, "bearer": CANARY}}},
             format="json")
    api.get("/api/v1/connections/")
    api.get("/api/schema/")

    assert len(echo.hits) >= 2


def test_canary_in_a_kubernetes_secret(api, root, cluster, emulator, echo):
    put_secret(emulator, "payments", "canary", {"token": CANARY})
    connection = make_connection("canary-k8s", {
        "http": {"url": f"{echo.url}/",
                 "bearer": {"valueFrom": {"secretKeyRef": {"name": "canary", "key": "token"}}}},
        "kubernetesConnection": "connection://platform/emulator", "internal": True},
        namespace="payments")
    api.force_authenticate(root)

    api.post(f"/api/v1/connections/{connection.pk}/test/")
    api.get(f"/api/v1/connections/{connection.pk}/")
    settings_ = resolve.resolve(connection, purpose="canary")
    logging.getLogger("flightdeck.test").error("resolved %r with header %s", settings_,
                                               settings_.headers["Authorization"])
    try:
        raise RuntimeError(f"crashed while holding {settings_.headers['Authorization']}")
    except RuntimeError:
        logging.getLogger("flightdeck.test").exception("action crashed")

    assert echo.hits[0].headers["Authorization"] == f"Bearer {CANARY}"


def test_canary_in_the_worker_environment(api, root, echo):
    connection = make_connection("canary-env", {
        "webhook": {"url": f"{echo.url}/",
                    "headers": {"valueFrom": {"env": {"name": "FD_CANARY_ENV"}}}},
        "internal": True})
    api.force_authenticate(root)

    api.post(f"/api/v1/connections/{connection.pk}/test/")
    api.get(f"/api/v1/connections/{connection.pk}/")
    logging.getLogger("flightdeck.test").debug("env holds %s", CANARY)

    assert echo.hits[0].headers["X-Token"] == CANARY


def test_the_sweep_recognises_every_encoding(web, root):
    web.force_login(root)
    web.get(reverse("connections:list"))

    encoded = [base64.b64encode(CANARY.encode()).decode(), quote(CANARY, safe=""),
               json.dumps({"v": CANARY})]

    assert all(leaks([text]) for text in encoded)
