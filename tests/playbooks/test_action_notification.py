"""The notification action (email, webhook) and the playbook action (child runs)."""

import json
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from playbooks.actions import ActionContext, ActionError, kind
from tests.connections.conftest import fresh_cache, key_ring, make_connection  # noqa: F401
from tests.connections.servers import Listener

NOTIFY = kind("notification")


def context(tmp_path: Path, spec: dict[str, Any], **kwargs: Any) -> ActionContext:
    return ActionContext(run_id="run-1", action_name="tell", namespace="default", spec=spec,
                         workdir=tmp_path, timeout=5.0, **kwargs)


@pytest.mark.django_db
def test_email_goes_through_the_django_backend(tmp_path):
    result = NOTIFY.run(context(tmp_path, {"to": {"email": ["sre@example.com"]},
                                           "title": "Scaled web", "message": "to 3 replicas"}))

    assert result == {"sent_to": ["email:sre@example.com"]}
    assert [(m.subject, m.body, m.to) for m in mail.outbox] == [
        ("Scaled web", "to 3 replicas", ["sre@example.com"])]


@pytest.mark.django_db
def test_a_webhook_connection_gets_a_json_body(tmp_path):
    with Listener(routes={"/hook": (204, {}, b"")}) as server:
        make_connection("hook", {"webhook": {"url": f"{server.url}/hook"}, "internal": True})

        result = NOTIFY.run(context(tmp_path, {"connection": "hook", "title": "T",
                                               "message": "M"}))

        assert result == {"sent_to": ["connection://default/hook"]}
        assert json.loads(server.hits[0].body) == {"title": "T", "message": "M",
                                                   "run_id": "run-1", "action": "tell"}


@pytest.mark.django_db
def test_a_failing_receiver_fails_the_action(tmp_path):
    with Listener(routes={"/hook": (500, {}, b"down")}) as server:
        make_connection("hook", {"webhook": {"url": f"{server.url}/hook"}, "internal": True})

        with pytest.raises(ActionError, match=r"answered HTTP 500"):
            NOTIFY.run(context(tmp_path, {"connection": "hook", "message": "M"}))


def test_validation_names_what_is_missing():
    assert NOTIFY.validate({"to": {"email": "not-an-address"}}) == [
        ("message", "This field is required."),
        ("to.email[0]", "'not-an-address' is not an email address")]
    assert NOTIFY.validate({"message": "x"}) == [
        ("", "give `connection` (webhook or slack) or `to.email`")]


@pytest.mark.django_db(transaction=True)
def test_a_child_playbook_runs_and_its_outcome_decides_the_parent(celery_worker_process):
    from playbooks import execution, store
    from playbooks.models import PlaybookRun
    from tests.conftest import wait_for

    store.save(None, name="child", namespace="ops", actor=None, spec={
        "title": "Child", "parameters": [{"name": "word", "required": True}],
        "actions": [{"name": "say", "exec": {"script": 'echo "child says $PARAM_WORD"'}}]})
    parent = store.save(None, name="parent", namespace="ops", actor=None, spec={
        "title": "Parent", "actions": [
            {"name": "call", "playbook": {"playbook": "ops/child", "params": {"word": "hi"}}},
            {"name": "after",
             "exec": {"script": "echo 'child was {{ actions.call.result.status }}'"}}]})

    run = execution.start(parent, user=None)
    done = wait_for(lambda: PlaybookRun.objects.filter(pk=run.pk, status__in=PlaybookRun.TERMINAL)
                    .first(), message="the parent to finish")

    assert done.status == "completed", done.error
    child = PlaybookRun.objects.get(parent_run=done)
    assert (child.status, child.trigger) == ("completed", "playbook")
    assert "child says hi" in child.log_lines.values_list("line", flat=True)
    assert "child was completed" in done.log_lines.values_list("line", flat=True)
