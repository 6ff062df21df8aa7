"""API token scopes over real HTTP: `read` covers safe methods, `write` every method."""

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from accounts.models import APIToken, AuditEvent
from accounts.tokens import create_token
from catalog.models import ScrapeConfig

pytestmark = pytest.mark.django_db


@pytest.fixture
def config(alice):
    config = ScrapeConfig.objects.create(namespace="p", name="s", spec={"file": [{}]})
    for perm in ("view", "run", "change"):
        assign_perm(f"{perm}_scrapeconfig", alice, config)
    return config


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_a_new_token_is_read_only_unless_write_is_asked_for(alice):
    token, _ = create_token(alice, "laptop")

    assert token.scopes == ["read"]


def test_a_read_token_reads(client, alice, config):
    _, raw = create_token(alice, "ro", scopes=["read"])

    response = client.get(f"/api/v1/scrape-configs/{config.pk}/", **bearer(raw))

    assert response.status_code == 200 and response.json()["name"] == "s"


def test_a_read_token_cannot_change_anything_and_is_told_which_scope_is_missing(
        client, alice, config):
    token, raw = create_token(alice, "ro", scopes=["read"])

    run = client.post(f"/api/v1/scrape-configs/{config.pk}/run/", **bearer(raw))
    patch = client.patch(f"/api/v1/scrape-configs/{config.pk}/", {"paused": True},
                         content_type="application/json", **bearer(raw))
    delete = client.delete(f"/api/v1/scrape-configs/{config.pk}/", **bearer(raw))

    for response in (run, patch, delete):
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        assert "`write` scope" in response.json()["detail"]
    config.refresh_from_db()
    assert config.runs.count() == 0 and config.paused is False and config.deleted_at is None
    rows = list(AuditEvent.objects.exclude(action="login").values_list(
        "outcome", "actor_token_id"))
    assert rows == [("denied", token.pk)] * 3


def test_a_write_token_changes_things(client, alice, config):
    token, raw = create_token(alice, "ci", scopes=["write"])

    read = client.get(f"/api/v1/scrape-configs/{config.pk}/", **bearer(raw))
    run = client.post(f"/api/v1/scrape-configs/{config.pk}/run/", **bearer(raw))

    assert (read.status_code, run.status_code) == (200, 202)
    assert config.runs.count() == 1
    assert AuditEvent.objects.exclude(action="login").get().actor_token_id == token.pk


def test_a_write_scope_never_widens_the_persons_grants(client, bob, config):
    _, raw = create_token(bob, "ci", scopes=["write"])

    response = client.post(f"/api/v1/scrape-configs/{config.pk}/run/", **bearer(raw))

    assert response.status_code == 404 and config.runs.count() == 0


def test_a_token_with_no_known_scope_can_do_nothing(client, alice, config):
    _, raw = create_token(alice, "odd", scopes=["agent:x"])

    response = client.get("/api/v1/scrape-configs/", **bearer(raw))

    assert response.status_code == 403 and "`read` scope" in response.json()["detail"]


def test_the_browser_session_is_not_limited_by_scopes(client, alice, config):
    client.force_login(alice)

    response = client.post(f"/api/v1/scrape-configs/{config.pk}/run/")

    assert response.status_code == 202


def test_a_read_token_cannot_mint_a_write_token(client, alice):
    _, raw = create_token(alice, "ro", scopes=["read"])

    response = client.post("/api/v1/tokens/", {"name": "escalate", "scopes": ["write"]},
                           content_type="application/json", **bearer(raw))

    assert response.status_code == 403
    assert APIToken.objects.filter(name="escalate").count() == 0


def test_the_token_api_takes_known_scopes_only(client, alice):
    client.force_login(alice)

    bad = client.post("/api/v1/tokens/", {"name": "x", "scopes": ["admin"]},
                      content_type="application/json")
    empty = client.post("/api/v1/tokens/", {"name": "x", "scopes": []},
                        content_type="application/json")
    default = client.post("/api/v1/tokens/", {"name": "x"}, content_type="application/json")

    assert (bad.status_code, empty.status_code, default.status_code) == (400, 400, 201)
    assert default.json()["scopes"] == ["read"]


def test_the_settings_page_makes_read_tokens_unless_changes_are_allowed(client, alice):
    client.force_login(alice)

    client.post(reverse("accounts:token_create"), {"name": "ro"})
    client.post(reverse("accounts:token_create"), {"name": "rw", "write": "on"})
    page = client.get(reverse("accounts:token_list")).content.decode()

    scopes = dict(APIToken.objects.values_list("name", "scopes"))
    assert scopes == {"ro": ["read"], "rw": ["write"]}
    assert "Allow changes (write scope)" in page
