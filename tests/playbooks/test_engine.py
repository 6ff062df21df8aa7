"""Playbook runs end to end: the API starts them, a real Celery worker runs them."""

import os
import signal
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm

from playbooks.models import Playbook, PlaybookRun
from portal import runs
from portal.celery import app
from portal.models import Event
from tests.conftest import make_person, start_worker, stop_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def spec(*actions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"title": "Test playbook", "category": "Testing", "actions": list(actions), **extra}


def bash(name: str, script: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "exec": {"script": script}, **fields}


@pytest.fixture
def editor(db: None) -> Any:
    return make_person("ed@example.com", "editor")


@pytest.fixture
def api(editor: Any) -> Client:
    client = Client()
    client.force_login(editor)
    return client


def create(api: Client, body: dict[str, Any], name: str = "greet") -> dict[str, Any]:
    response = api.post("/api/v1/playbooks/", {"name": name, "namespace": "ops", "spec": body},
                        content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def run(api: Client, playbook: dict[str, Any], **body: Any) -> Any:
    response = api.post(f"/api/v1/playbooks/{playbook['id']}/run/", body,
                        content_type="application/json")
    assert response.status_code == 202, response.content
    return response.json()


def finished(run_id: str, timeout: float = 30) -> PlaybookRun:
    return wait_for(lambda: PlaybookRun.objects.filter(pk=run_id,
                                                       status__in=PlaybookRun.TERMINAL).first(),
                    timeout=timeout, message=f"run {run_id} to finish")


def log_of(run: PlaybookRun) -> list[str]:
    return list(run.log_lines.order_by("seq").values_list("line", flat=True))


def test_a_run_started_through_the_api_is_executed_by_a_worker(api, celery_worker_process):
    playbook = create(api, spec(
        bash("greet", 'echo "hello $PARAM_WHO"'),
        bash("repeat", "echo 'greet said: {{ actions.greet.result.stdout | trim }}'"),
        parameters=[{"name": "who", "type": "text", "required": True,
                     "properties": {"pattern": "^[a-z]+$"}}]))

    started = run(api, playbook, params={"who": "world"})

    assert started["status"] == "scheduled"
    done = finished(started["id"])
    assert done.status == "completed", done.error
    assert [(a.name, a.status) for a in done.actions.all()] == [
        ("greet", "completed"), ("repeat", "completed")]
    lines = log_of(done)
    assert "hello world" in lines and "greet said: hello world" in lines
    assert lines[-1] == "run completed"
    names = set(Event.objects.filter(object_id=done.pk).values_list("name", flat=True))
    assert {"playbook.run.scheduled", "playbook.run.started",
            "playbook.run.completed"} <= names
    shown = api.get(f"/api/v1/playbook-runs/{done.pk}/").json()
    assert shown["status"] == "completed" and shown["parameters"] == {"who": "world"}


def test_an_invalid_spec_is_refused_with_field_paths(api):
    response = api.post("/api/v1/playbooks/", {"name": "bad", "namespace": "ops", "spec": spec(
        {"name": "one", "frobnicate": {}},
        bash("two", "echo {{ unclosed", **{"if": "success() &&"}),
        {"name": "three", "exec": {"script": "true"}, "retry": {"limit": 99}},
    )}, content_type="application/json")

    assert response.status_code == 400
    errors = " | ".join(response.json()["errors"]["spec"])
    assert "actions[0]: an action needs exactly one kind" in errors
    assert "actions[0].frobnicate: unknown field" in errors
    assert "actions[1].exec.script: template: line 1:" in errors
    assert "actions[1].if:" in errors
    assert "actions[2].retry.limit:" in errors
    assert not Playbook.objects.filter(name="bad").exists()


def test_parameters_are_checked_before_a_run_exists(api):
    playbook = create(api, spec(bash("x", "true"), parameters=[
        {"name": "replicas", "required": True, "properties": {"pattern": "^[0-9]{1,3}$"}},
        {"name": "mode", "type": "list", "properties": {"options": [{"value": "fast"}]}}]))

    missing = api.post(f"/api/v1/playbooks/{playbook['id']}/run/", {"params": {}},
                       content_type="application/json")
    wrong = api.post(f"/api/v1/playbooks/{playbook['id']}/run/",
                     {"params": {"replicas": "many", "mode": "slow", "extra": 1}},
                     content_type="application/json")

    assert missing.status_code == 400
    assert missing.json()["errors"]["params"] == {"replicas": "is required"}
    assert wrong.status_code == 400
    assert wrong.json()["errors"]["params"] == {"replicas": "must match ^[0-9]{1,3}$",
                                      "mode": "'slow' is not one of the options",
                                      "extra": "is not a parameter of this playbook"}
    assert not PlaybookRun.objects.exists()


def test_if_retry_and_failure_handlers(api, celery_worker_process):
    playbook = create(api, spec(
        bash("flaky", "echo attempt; exit 3", retry={"limit": 2, "backoff": "1s"}),
        bash("never", "echo should not run"),
        bash("cleanup", "echo cleaning up", **{"if": "failure()"}),
        bash("shown", "echo no", **{"if": "skip()"})))

    done = finished(run(api, playbook)["id"])

    assert done.status == "failed"
    rows = [(a.name, a.attempt, a.status) for a in done.actions.all()]
    assert rows == [("flaky", 1, "failed"), ("flaky", 2, "failed"), ("flaky", 3, "failed"),
                    ("never", 1, "skipped"), ("cleanup", 1, "completed"),
                    ("shown", 1, "skipped")]
    assert done.actions.get(name="flaky", attempt=3).result["exitCode"] == 3
    assert "cleaning up" in log_of(done)
    assert "should not run" not in log_of(done)


def test_an_action_timeout_stops_the_script(api, celery_worker_process):
    playbook = create(api, spec(bash("slow", "sleep 30", timeout="1s")))
    began = time.monotonic()

    done = finished(run(api, playbook)["id"])

    assert time.monotonic() - began < 20
    assert done.status == "failed"
    action = done.actions.get()
    assert action.status == "timed_out" and action.error.startswith("timed out after 1s")


def test_cancel_stops_the_running_action_and_the_rest(api, celery_worker_process):
    playbook = create(api, spec(bash("long", "echo started; sleep 60"), bash("after", "true")))
    started = run(api, playbook)
    wait_for(lambda: "started" in log_of(PlaybookRun.objects.get(pk=started["id"])),
             message="the script to start")

    response = api.post(f"/api/v1/playbook-runs/{started['id']}/cancel/")

    assert response.status_code == 200
    done = finished(started["id"], timeout=20)
    assert done.status == "cancelled"
    assert [(a.name, a.status) for a in done.actions.all()] == [("long", "cancelled"),
                                                                ("after", "cancelled")]


def test_a_secret_parameter_is_never_stored_or_logged_in_clear(api, celery_worker_process,
                                                                settings):
    from connections import crypto

    # The worker runs with DEBUG=1 and derives this key; the test process must use the same.
    settings.FLIGHTDECK_SECRET_KEYS = [crypto.development_key()]
    secret = "hunter2-" + "z" * 16
    playbook = create(api, spec(bash("use", 'echo "token is $PARAM_TOKEN"'), parameters=[
        {"name": "token", "type": "secret", "required": True}]))

    started = run(api, playbook, params={"token": secret})

    done = finished(started["id"])
    assert done.status == "completed"
    assert secret not in str(done.parameters)
    assert started["parameters"] == {"token": "***"}
    lines = log_of(done)
    assert any(line.startswith("token is ") for line in lines)
    assert not any(secret in line for line in lines)
    assert secret not in str(done.actions.get().result)


def test_runs_and_playbooks_are_invisible_without_a_grant(api, editor):
    playbook = create(api, spec(bash("x", "true")))
    outsider = Client()
    outsider.force_login(make_person("out@example.com", "viewer"))

    assert outsider.get(f"/api/v1/playbooks/{playbook['id']}/").status_code == 404
    assert outsider.post(f"/api/v1/playbooks/{playbook['id']}/run/", {},
                         content_type="application/json").status_code == 404
    assert outsider.get("/api/v1/playbooks/").json()["results"] == []
    assert not PlaybookRun.objects.exists()


def test_a_viewer_granted_run_may_run_but_not_edit(api, editor):
    playbook = create(api, spec(bash("x", "true")))
    operator = make_person("op@example.com", "viewer")
    row = Playbook.objects.get(pk=playbook["id"])
    assign_perm("view_playbook", operator, row)
    assign_perm("run_playbook", operator, row)
    client = Client()
    client.force_login(operator)

    ran = client.post(f"/api/v1/playbooks/{playbook['id']}/run/", {},
                      content_type="application/json")
    edited = client.patch(f"/api/v1/playbooks/{playbook['id']}/", {"spec": spec(
        bash("y", "rm -rf /tmp/x"))}, content_type="application/json")

    assert ran.status_code == 202
    assert PlaybookRun.objects.get().created_by == operator
    assert edited.status_code == 404
    assert Playbook.objects.get(pk=playbook["id"]).spec["actions"][0]["name"] == "x"


def test_kill_9_mid_action_fails_the_run_instead_of_repeating_it(api, celery_worker_process):
    playbook = create(api, spec(bash("side-effect", "echo once; sleep 60")))
    row = Playbook.objects.get(pk=playbook["id"])
    # Started without the doorbell, then handed to a worker we are about to kill.
    from playbooks import execution

    started = execution.start(row, user=None, send=False)
    doomed = start_worker("doomed-pb", FLIGHTDECK_RUN_LEASE_SECONDS="3",
                          FLIGHTDECK_RUN_HEARTBEAT_SECONDS="1")
    try:
        app.send_task("playbooks.tasks.run_playbook", args=[str(started.pk)], queue="doomed-pb")
        wait_for(lambda: "once" in log_of(PlaybookRun.objects.get(pk=started.pk)),
                 message="the action to start on the doomed worker")
        os.killpg(doomed.pid, signal.SIGKILL)
        killed = time.monotonic()
    finally:
        stop_worker(doomed)

    def reaped() -> PlaybookRun | None:
        runs.reap()
        return PlaybookRun.objects.filter(pk=started.pk, status="failed").first()

    done = wait_for(reaped, timeout=60, interval=0.5, message="the reaper to fail the run")

    assert time.monotonic() - killed <= 60
    assert done.error.startswith("worker lost")
    assert done.actions.get().status == "failed"
    assert log_of(done).count("once") == 1
    assert Event.objects.filter(object_id=done.pk, name="playbook.run.failed").exists()
    assert done.finished_at <= timezone.now()
