"""Playbook triggers: signed webhooks, outbox events and cron schedules start runs, once."""

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from catalog.models import ConfigItem
from playbooks import store, triggers
from playbooks.models import Playbook, PlaybookRun, ScheduleState
from playbooks.spec import SpecError
from portal import outbox

SECRET = "hook-secret-value"
ENV_REF = {"valueFrom": {"env": {"name": "PB_TEST_HOOK_SECRET"}}}


def spec(**extra: Any) -> dict[str, Any]:
    return {"title": "Triggered", "actions": [{"name": "hi", "exec": {"script": "echo hi"}}],
            **extra}


def save(name: str, body: dict[str, Any]) -> Playbook:
    return store.save(None, name=name, namespace="ops", spec=body, actor=None)


def item(name: str, health: str = "healthy", **fields: Any) -> ConfigItem:
    return ConfigItem.objects.create(id=uuid.uuid4(), name=name, type="Kubernetes::Pod",
                                     namespace="shop", health=health, **fields)


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PB_TEST_HOOK_SECRET", SECRET)
    return SECRET


# -- webhooks --------------------------------------------------------------------------------


def hook(auth: dict[str, Any], path: str = "deploy-done") -> Playbook:
    return save(f"hook-{path}", spec(on={"webhook": {"path": path, "authentication": auth}}))


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(path: str, body: bytes, **headers: str) -> Any:
    return Client().post(f"/api/v1/webhooks/{path}?ref=main", body,
                         content_type="application/json", headers=headers)


@pytest.mark.django_db
def test_a_webhook_without_a_signature_is_refused_and_starts_nothing(secret_env):
    hook({"hmac": {"secret": ENV_REF}})

    response = post("deploy-done", b'{"ok": true}')

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert not PlaybookRun.objects.exists()


@pytest.mark.django_db
def test_a_webhook_with_a_wrong_signature_is_refused(secret_env):
    hook({"hmac": {"secret": ENV_REF}})
    body = b'{"ok": true}'

    wrong = post("deploy-done", body, **{"X-Signature-256": signed(body, "not-the-secret")})
    garbage = post("deploy-done", body, **{"X-Signature-256": "sha256=zz"})
    other_body = post("deploy-done", b'{"ok": false}', **{"X-Signature-256": signed(body)})

    assert [wrong.status_code, garbage.status_code, other_body.status_code] == [401, 401, 401]
    assert not PlaybookRun.objects.exists()


@pytest.mark.django_db
def test_a_signed_webhook_starts_a_run_with_the_request_minus_credentials(secret_env):
    playbook = hook({"hmac": {"secret": ENV_REF}})
    body = json.dumps({"service": "checkout", "version": 7}).encode()

    response = post("deploy-done", body, **{"X-Signature-256": signed(body),
                                            "Cookie": "sessionid=abc", "X-Custom": "kept"})

    assert response.status_code == 202, response.content
    run = PlaybookRun.objects.get(pk=response.json()["id"])
    assert run.playbook == playbook and run.trigger == "webhook" and run.created_by is None
    assert run.request["method"] == "POST" and run.request["path"] == "deploy-done"
    assert run.request["json"] == {"service": "checkout", "version": 7}
    assert run.request["query"] == {"ref": "main"}
    assert run.request["headers"]["X-Custom"] == "kept"
    headers = {name.lower() for name in run.request["headers"]}
    assert "x-signature-256" not in headers and "cookie" not in headers
    assert SECRET not in json.dumps(run.request)


@pytest.mark.django_db
def test_the_same_delivery_twice_starts_one_run(secret_env):
    hook({"github": {"secret": ENV_REF}})
    body = b'{"action": "published"}'
    headers = {"X-Hub-Signature-256": signed(body), "X-GitHub-Delivery": "d-1"}

    first = post("deploy-done", body, **headers)
    second = post("deploy-done", body, **headers)

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert PlaybookRun.objects.count() == 1


@pytest.mark.django_db
def test_basic_credentials_are_checked(secret_env):
    hook({"basic": {"username": "ci", "password": ENV_REF}})

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    refused = post("deploy-done", b"{}", Authorization=basic("ci", "wrong"))
    accepted = post("deploy-done", b"{}", Authorization=basic("ci", SECRET))

    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Basic"
    assert accepted.status_code == 202
    run = PlaybookRun.objects.get()
    assert "Authorization" not in run.request["headers"]


@pytest.mark.django_db
def test_bearer_tokens_are_checked(secret_env):
    hook({"bearer": ENV_REF})

    missing = post("deploy-done", b"{}")
    refused = post("deploy-done", b"{}", Authorization="Bearer nope")
    accepted = post("deploy-done", b"{}", Authorization=f"Bearer {SECRET}")

    assert [missing.status_code, refused.status_code, accepted.status_code] == [401, 401, 202]
    assert PlaybookRun.objects.count() == 1


@pytest.mark.django_db
def test_an_unknown_webhook_path_is_not_found():
    assert post("nobody-listens", b"{}").status_code == 404


@pytest.mark.django_db
def test_a_webhook_without_authentication_is_refused_at_definition():
    with pytest.raises(SpecError) as refused:
        save("open-hook", spec(on={"webhook": {"path": "open"}}))

    assert [path for path, _ in refused.value.problems] == ["on.webhook.authentication"]
    assert not Playbook.objects.filter(name="open-hook").exists()


@pytest.mark.django_db
def test_a_literal_webhook_secret_is_refused():
    with pytest.raises(SpecError) as refused:
        save("literal", spec(on={"webhook": {"path": "lit", "authentication": {
            "bearer": {"value": "in-clear"}}}}))

    assert refused.value.problems[0][0] == "on.webhook.authentication.bearer"


@pytest.mark.django_db
def test_a_webhook_path_names_one_live_playbook(secret_env):
    first = hook({"bearer": ENV_REF}, path="shared")
    store.save(first, name=first.name, namespace="ops", spec=first.spec, actor=None)  # itself

    with pytest.raises(SpecError) as taken:
        save("second", spec(on={"webhook": {"path": "shared",
                                            "authentication": {"bearer": ENV_REF}}}))

    assert taken.value.problems[0][0] == "on.webhook.path"


# -- events ----------------------------------------------------------------------------------


def on_unhealthy(name: str = "restart", **entry: Any) -> Playbook:
    return save(name, spec(
        configs=[{"types": ["Kubernetes::Pod"]}],
        parameters=[{"name": "reason", "required": True}],
        on={"events": [{"event": "config.unhealthy",
                        "params": {"reason": "{{ event.name }}: {{ config.name }}"}, **entry}]}))


def unhealthy(target: ConfigItem, name: str = "config.unhealthy") -> Any:
    return outbox.emit(name, "config", target.pk,
                       {"previous": {"health": "healthy"}, "current": {"health": "unhealthy"}})


@pytest.fixture
def dispatcher(transactional_db: None) -> None:
    """Cursors exist before the test's events, as in a running dispatcher (a consumer seen
    for the first time starts after the newest event)."""
    outbox.drain()


@pytest.mark.usefixtures("dispatcher")
def test_an_unhealthy_event_starts_one_run():
    playbook = on_unhealthy()
    pod = item("checkout-7f9", health="unhealthy")
    event = unhealthy(pod)

    outbox.drain()

    run = PlaybookRun.objects.get()
    assert (run.playbook, run.config, run.trigger, run.event_id) == (playbook, pod, "event",
                                                                     event.pk)
    assert run.parameters == {"reason": "config.unhealthy: checkout-7f9"}
    assert run.created_by is None


@pytest.mark.usefixtures("dispatcher")
def test_a_second_delivery_of_the_same_event_starts_none():
    on_unhealthy()
    event = unhealthy(item("checkout-7f9", health="unhealthy"))
    outbox.drain()

    triggers.handle_event(event)  # what an at-least-once redelivery does

    assert PlaybookRun.objects.count() == 1


@pytest.mark.usefixtures("dispatcher")
def test_a_false_filter_starts_none():
    on_unhealthy(filter='config.namespace == "payments"')
    unhealthy(item("checkout-7f9", health="unhealthy"))

    outbox.drain()

    assert not PlaybookRun.objects.exists()


@pytest.mark.usefixtures("dispatcher")
def test_a_non_matching_event_name_starts_none():
    on_unhealthy()
    unhealthy(item("checkout-7f9"), name="config.healthy")

    outbox.drain()

    assert not PlaybookRun.objects.exists()


@pytest.mark.usefixtures("dispatcher")
def test_patterns_match_and_a_failing_filter_does_not_stop_other_playbooks():
    # `config.message` is not a map: the filter fails at run time for this playbook only.
    on_unhealthy("broken", filter="config.message.deep == 1")
    on_unhealthy("wildcard", event="config.*")
    unhealthy(item("checkout-7f9", health="unhealthy"))

    outbox.drain()

    assert list(PlaybookRun.objects.values_list("playbook__name", flat=True)) == ["wildcard"]


@pytest.mark.usefixtures("dispatcher")
def test_an_item_outside_the_selectors_starts_none():
    on_unhealthy()
    other = ConfigItem.objects.create(id=uuid.uuid4(), name="db", type="AWS::RDS::DBInstance",
                                      health="unhealthy")
    unhealthy(other)

    outbox.drain()

    assert not PlaybookRun.objects.exists()


@pytest.mark.usefixtures("dispatcher")
def test_the_dispatcher_command_delivers_events_to_playbooks():
    on_unhealthy()
    unhealthy(item("checkout-7f9", health="unhealthy"))

    call_command("run_dispatcher", "--once")

    assert PlaybookRun.objects.filter(trigger="event").count() == 1


# -- schedules -------------------------------------------------------------------------------

# Far enough ahead that a playbook saved now was saved before every test instant.
MONDAY = datetime(2031, 3, 3, tzinfo=UTC)


def nightly(cron: str = "0 20 * * *", tz: str = "UTC", **entry: Any) -> Playbook:
    return save("nightly", spec(on={"schedule": [{"cron": cron, "timezone": tz, **entry}]}))


@pytest.mark.django_db
def test_a_due_schedule_starts_once_per_slot():
    playbook = nightly()
    triggers.dispatch_scheduled(now=MONDAY.replace(hour=19, minute=59))

    due = MONDAY.replace(hour=20, second=10)
    triggers.dispatch_scheduled(now=due)
    triggers.dispatch_scheduled(now=due + timedelta(seconds=30))

    run = PlaybookRun.objects.get()
    assert (run.playbook, run.trigger, run.config, run.created_by) == (playbook, "schedule",
                                                                       None, None)
    assert run.idempotency_key == f"schedule:{playbook.pk}:0:2031-03-03T20:00:00+00:00:-"
    assert ScheduleState.objects.get().next_run_at == MONDAY.replace(day=4, hour=20)


@pytest.mark.django_db
def test_nothing_starts_before_the_slot():
    nightly()

    triggers.dispatch_scheduled(now=MONDAY.replace(hour=12))
    triggers.dispatch_scheduled(now=MONDAY.replace(hour=19, minute=59, second=50))

    assert not PlaybookRun.objects.exists()


@pytest.mark.django_db
def test_the_schedule_time_zone_is_respected():
    nightly(tz="Europe/Berlin")  # 20:00 in Berlin is 19:00 UTC in March (CET)
    triggers.dispatch_scheduled(now=MONDAY.replace(hour=18))

    triggers.dispatch_scheduled(now=MONDAY.replace(hour=19, second=5))

    run = PlaybookRun.objects.get()
    assert run.idempotency_key.endswith(":2031-03-03T20:00:00+01:00:-")


@pytest.mark.django_db
def test_a_schedule_with_configs_starts_one_run_per_matching_item():
    for name in ("web-1", "web-2"):
        item(name, tags={"env": "staging"})
    item("web-prod", tags={"env": "prod"})
    save("per-item", spec(configs=[{"types": ["Kubernetes::Pod"]}], on={"schedule": [{
        "cron": "*/5 * * * *", "configs": [{"tagSelector": "env=staging"}],
        "params": {}}]}))
    triggers.dispatch_scheduled(now=MONDAY.replace(minute=2))

    triggers.dispatch_scheduled(now=MONDAY.replace(minute=5, second=1))

    assert sorted(PlaybookRun.objects.values_list("config__name", flat=True)) == [
        "web-1", "web-2"]


@pytest.mark.django_db
def test_a_missing_required_parameter_skips_the_run():
    save("needs-param", spec(parameters=[{"name": "replicas", "required": True}],
                             on={"schedule": [{"cron": "* * * * *"}]}))
    triggers.dispatch_scheduled(now=MONDAY)

    started = triggers.dispatch_scheduled(now=MONDAY.replace(minute=1))

    assert started == 0 and not PlaybookRun.objects.exists()
    assert ScheduleState.objects.get().next_run_at == MONDAY.replace(minute=2)


@pytest.mark.django_db
def test_schedule_entries_are_validated_with_their_paths():
    with pytest.raises(SpecError) as refused:
        save("bad", spec(on={"schedule": [{"cron": "every day", "timezone": "Mars/Base"}]}))

    assert sorted(path for path, _ in refused.value.problems) == [
        "on.schedule[0].cron", "on.schedule[0].timezone"]
