"""The Test button per kind: real PostgreSQL, local HTTP stubs, the Kubernetes emulator."""

import base64
import json
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from connections import resolve
from tests.connections.conftest import make_connection
from tests.connections.servers import LineServer, Listener, json_route

pytestmark = pytest.mark.django_db


def test_postgres_select_one_against_the_local_server():
    db = django_settings.DATABASES["default"]
    connection = make_connection("pg", {"postgres": {
        "host": "127.0.0.1", "port": int(db.get("PORT") or 5432), "database": db["NAME"],
        "username": db["USER"], "password": "unused-with-trust-auth", "sslMode": "disable"},
        "internal": True})

    result = resolve.test_and_store(connection)

    assert result.ok, result.message
    assert result.message.startswith("SELECT 1 ok on PostgreSQL")
    connection.refresh_from_db()
    assert connection.last_test_ok is True and connection.last_tested_at is not None


def test_postgres_on_a_private_address_needs_internal():
    connection = make_connection("pg", {"postgres": {"host": "127.0.0.1", "database": "x"}})

    result = resolve.test_and_store(connection)

    assert not result.ok and "private address" in result.message


def test_http_get_with_bearer_against_a_local_server():
    with Listener() as server:
        connection = make_connection("web", {"http": {"url": f"{server.url}/health",
                                                      "bearer": "t0k-http-probe"},
                                             "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok and result.message == "GET: HTTP 200 OK"
    assert result.latency_ms > 0
    assert server.hits[0].headers["Authorization"] == "Bearer t0k-http-probe"


def test_http_failure_reports_the_status_not_the_body():
    with Listener(routes={"/": (401, {}, b"denied for t0k-http-probe")}) as server:
        connection = make_connection("web", {"http": {"url": f"{server.url}/",
                                                      "bearer": "t0k-http-probe"},
                                             "internal": True})
        result = resolve.test_and_store(connection)

    assert not result.ok and result.message == "GET: HTTP 401 Unauthorized"


def test_kubernetes_version_from_the_emulator(cluster):
    result = resolve.test_and_store(cluster)

    assert result.ok, result.message
    assert result.message.startswith("Kubernetes v1.26")


def test_slack_auth_test_through_an_endpoint_override():
    route = json_route({"ok": True, "user": "flightdeck-bot", "team": "acme"})
    with Listener(routes={"/api/auth.test": route}) as server:
        connection = make_connection("chat", {"slack": {
            "token": "xoxb-probe", "channel": "#ops", "apiURL": f"{server.url}/api"},
            "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok and result.message == "auth.test ok: flightdeck-bot in acme"
    assert server.hits[0].headers["Authorization"] == "Bearer xoxb-probe"


@pytest.mark.parametrize(("kind", "header", "payload", "expected"), [
    ("github", "authorization", {"login": "octocat"}, "authenticated as octocat"),
    ("gitlab", "private-token", {"username": "tanuki"}, "authenticated as tanuki"),
])
def test_forge_user_lookup(kind, header, payload, expected):
    with Listener(routes={"/api/user": json_route(payload)}) as server:
        connection = make_connection("forge", {kind: {"token": "forge-t0k",
                                                      "apiURL": f"{server.url}/api"},
                                               "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok and result.message == expected
    headers = {k.lower(): v for k, v in server.hits[0].headers.items()}
    assert "forge-t0k" in headers[header]


def test_aws_caller_identity_is_signed():
    body = (b"<GetCallerIdentityResponse><Arn>arn:aws:iam::1:user/ci</Arn>"
            b"</GetCallerIdentityResponse>")
    with Listener(routes={"/": (200, {}, body)}) as server:
        connection = make_connection("aws", {"aws": {
            "region": "eu-west-1", "accessKey": "AKIDEXAMPLE", "secretKey": "aws-secret-key",
            "endpoint": server.url}, "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok and result.message == "caller arn:aws:iam::1:user/ci"
    auth = server.hits[0].headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/sts/aws4_request" in auth and "aws-secret-key" not in auth


def test_azure_client_credentials_token():
    with Listener(routes={"/tenant-1/oauth2/v2.0/token": json_route(
            {"access_token": "issued"})}) as server:
        connection = make_connection("az", {"azure": {
            "tenantID": "tenant-1", "clientID": "client-1", "clientSecret": "az-secret",
            "authorityURL": server.url}, "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok, result.message
    assert b"client_secret=az-secret" in server.hits[0].body


def test_gcp_jwt_bearer_exchange():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    with Listener(routes={"/token": json_route({"access_token": "issued"})}) as server:
        credentials = json.dumps({"client_email": "sa@p.iam.gserviceaccount.com",
                                  "private_key": pem, "token_uri": f"{server.url}/token"})
        connection = make_connection("gcp", {"gcp": {"project": "p", "credentials": credentials},
                                             "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok and result.message == "token issued to sa@p.iam.gserviceaccount.com"
    assert b"grant-type%3Ajwt-bearer" in server.hits[0].body


def test_smtp_ehlo_auth_noop():
    def reply(line: bytes) -> bytes | None:
        verb = line.split(b" ", 1)[0].upper()
        return {b"EHLO": b"250-stub\r\n250 AUTH PLAIN\r\n", b"AUTH": b"235 ok\r\n",
                b"NOOP": b"250 ok\r\n", b"QUIT": b"221 bye\r\n"}.get(verb, b"500 no\r\n")

    with LineServer(b"220 stub ESMTP\r\n", reply) as server:
        connection = make_connection("mail", {"smtp": {
            "host": "127.0.0.1", "port": server.port, "username": "ops", "password": "smtp-pw",
            "starttls": False}, "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok and result.message == "EHLO + AUTH + NOOP ok (250)"
    assert any(line.startswith(b"AUTH PLAIN") for line in server.lines)


def test_mysql_handshake_without_a_driver():
    version = b"8.0.36"
    body = b"\x0a" + version + b"\0" + b"\0" * 40
    packet = len(body).to_bytes(3, "little") + b"\0" + body
    with LineServer(packet, lambda line: None) as server:
        connection = make_connection("my", {"mysql": {"host": "127.0.0.1", "port": server.port},
                                            "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok and "MySQL 8.0.36 reachable" in result.message
    assert "no MySQL driver" in result.message or "not installed" in result.message


def test_git_ls_remote_over_http_with_a_token(tmp_path: Path):
    bare = tmp_path / "repo.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)

    def serve(hit):
        path = bare / hit.path.split("?", 1)[0].removeprefix("/repo.git/")
        return (200, {}, path.read_bytes()) if path.is_file() else (404, {}, b"")

    routes = {f"/repo.git/{p}": serve for p in ("info/refs", "HEAD")}
    with Listener(routes=routes) as server:
        connection = make_connection("repo", {"git": {
            "url": f"{server.url}/repo.git", "ref": "main", "token": "git-t0k"},
            "internal": True})
        result = resolve.test_and_store(connection)

    assert result.ok, result.message
    expected = base64.b64encode(b"x-access-token:git-t0k").decode()
    assert server.hits[0].headers["Authorization"] == f"Basic {expected}"


def test_git_refuses_file_urls():
    from rest_framework.exceptions import ValidationError

    with pytest.raises(ValidationError, match="https"):
        make_connection("repo", {"git": {"url": "file:///etc"}})


def test_unreachable_targets_fail_with_a_safe_message():
    connection = make_connection("web", {"http": {"url": "http://127.0.0.1:9/",
                                                  "password": "x-unreach"}, "internal": True})

    result = resolve.test_and_store(connection)

    assert not result.ok and "ConnectionRefusedError" in result.message
