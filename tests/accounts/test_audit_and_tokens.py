"""Audit rows for logins and state changes; API tokens shown once, stored hashed, revocable."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts.models import APIToken, AuditEvent
from accounts.tokens import create_token
from catalog.models import ScrapeConfig

pytestmark = pytest.mark.django_db


def test_login_success_and_failure_are_audited(client, alice):
    denied = client.post(reverse("login"), {"username": alice.email, "password": "wrong"})
    accepted = client.post(reverse("login"),
                           {"username": alice.email, "password": "pw-" + alice.email})

    # A refused login renders the form again; an accepted one redirects into the catalog.
    assert denied.status_code == 200 and 'name="password"' in denied.content.decode()
    assert (accepted.status_code, accepted["Location"]) == (302, reverse("catalog:item_list"))
    outcomes = list(AuditEvent.objects.filter(action="login").order_by("id").values_list(
        "outcome", "actor_person"))
    assert outcomes == [("denied", None), ("success", alice.pk)]
    assert "wrong" not in str(AuditEvent.objects.values_list("changes", flat=True))


def test_audit_rows_cannot_be_updated_or_deleted(client, alice):
    client.force_login(alice)
    logout = client.post(reverse("logout"))
    row = AuditEvent.objects.first()

    assert (logout.status_code, logout["Location"]) == (302, reverse("login"))

    for statement in ("UPDATE accounts_auditevent SET action = 'x' WHERE id = %s",
                      "DELETE FROM accounts_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
                connection.cursor() as cur:
            cur.execute(statement, [row.id])


def test_state_changing_api_request_is_audited_with_token_actor(client, root):
    token, raw = create_token(root, "ci", scopes=["write"])
    config = ScrapeConfig.objects.create(namespace="p", name="s", spec={"file": [{}]})

    response = client.post(f"/api/v1/scrape-configs/{config.pk}/run/",
                           HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 202
    row = AuditEvent.objects.exclude(action="login").get()
    assert (row.actor_person_id, row.actor_token_id, row.outcome) == (root.pk, token.pk,
                                                                      "success")


def test_denied_request_is_audited_as_denied(client, carol):
    config = ScrapeConfig.objects.create(namespace="p", name="s", spec={"file": [{}]})
    client.force_login(carol)

    response = client.post(reverse("catalog:scraper_run_now", args=[config.pk]))

    assert response.status_code == 404
    assert list(AuditEvent.objects.exclude(action="login").values_list(
        "outcome", flat=True)) == ["denied"]


def test_anonymous_state_change_sent_to_log_in_is_audited_as_denied(client):
    config = ScrapeConfig.objects.create(namespace="p", name="s", spec={"file": [{}]})

    page = client.post(reverse("catalog:scraper_run_now", args=[config.pk]))
    api = client.post(f"/api/v1/scrape-configs/{config.pk}/run/")

    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    assert api.status_code == 401
    assert list(AuditEvent.objects.values_list("outcome", flat=True)) == ["denied", "denied"]
    assert config.runs.count() == 0


def test_failed_state_change_that_is_not_a_refusal_is_audited_as_error(client, root):
    client.force_login(root)

    response = client.post("/api/v1/scrape-configs/", {"name": "x", "schedule": "whenever"},
                           content_type="application/json")

    assert response.status_code == 400
    assert AuditEvent.objects.exclude(action="login").get().outcome == "error"


def test_token_is_stored_hashed_and_works_until_revoked(client, alice):
    token, raw = create_token(alice, "laptop")
    assert raw.startswith(f"fd_{token.prefix}_")
    assert raw.split("_", 2)[2] not in token.secret_hash

    ok = client.get("/api/v1/catalog/items/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    APIToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    revoked = client.get("/api/v1/catalog/items/", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert ok.status_code == 200
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]


def test_expired_and_forged_tokens_are_rejected(client, alice):
    _, raw = create_token(alice, "old", expires_at=timezone.now() - timezone.timedelta(days=1))
    forged = raw[:-4] + "AAAA"

    for candidate in (raw, forged, "fd_nope_nope"):
        assert client.get("/api/v1/catalog/items/",
                          HTTP_AUTHORIZATION=f"Bearer {candidate}").status_code == 401


def test_run_now_needs_the_run_permission(client, alice):
    config = ScrapeConfig.objects.create(namespace="p", name="s", spec={"file": [{}]})
    assign_perm("view_scrapeconfig", alice, config)
    client.force_login(alice)

    denied = client.post(reverse("catalog:scraper_run_now", args=[config.pk]))
    assign_perm("run_scrapeconfig", alice, config)
    allowed = client.post(reverse("catalog:scraper_run_now", args=[config.pk]))

    assert denied.status_code == 404
    assert allowed.status_code == 302 and config.runs.count() == 1


def test_token_api_creates_once_shown_tokens_and_revokes_them(client, alice):
    client.force_login(alice)

    created = client.post("/api/v1/tokens/", {"name": "ci", "scopes": ["write"]},
                          content_type="application/json")
    raw = created.json()["token"]
    listed = client.get("/api/v1/tokens/").json()["results"]
    client.logout()
    used = client.get("/api/v1/catalog/items/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    revoke = client.delete(f"/api/v1/tokens/{created.json()['id']}/",
                           HTTP_AUTHORIZATION=f"Bearer {raw}")
    after = client.get("/api/v1/catalog/items/", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert created.status_code == 201 and raw.startswith("fd_")
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    assert (used.status_code, revoke.status_code, after.status_code) == (200, 204, 401)
    assert AuditEvent.objects.filter(action="token.create", outcome="success").count() == 1


def test_token_api_lists_only_my_tokens(client, alice, bob):
    create_token(bob, "bobs")
    client.force_login(alice)

    assert client.get("/api/v1/tokens/").json()["results"] == []
