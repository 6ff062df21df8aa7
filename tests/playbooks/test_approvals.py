"""Approvals end to end: runs that wait for approvers, decisions over the API and the inbox page,
expiry, and a real Celery worker that must not touch a run nobody approved."""

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts.models import AuditEvent, Person, Team, TeamMembership
from playbooks import approvals, execution
from playbooks.models import Playbook, PlaybookApproval, PlaybookRun
from playbooks.spec import SpecError, validate
from portal.celery import app
from portal.models import Event
from tests.conftest import make_person, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"name": "hello", "exec": {"script": "echo approved-and-ran"}}]


def team(name: str, *members: Person) -> Team:
    row = Team.objects.create(name=name, slug=name, group=Group.objects.create(name=f"t-{name}"))
    for person in members:
        TeamMembership.objects.create(team=row, person=person)
    return row


def client_for(person: Person) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def editor(db: None) -> Person:
    return make_person("ed@example.com", "editor")


@pytest.fixture
def approver(db: None) -> Person:
    return make_person("approver@example.com", "viewer")


def playbook(editor: Person, approval: dict[str, Any], name: str = "guarded",
             **extra: Any) -> Playbook:
    """Created through the API, as a person would, so the spec goes through its validator."""
    response = client_for(editor).post("/api/v1/playbooks/", {
        "name": name, "namespace": "ops",
        "spec": {"title": name.title(), "actions": HELLO, "approval": approval, **extra}},
        content_type="application/json")
    assert response.status_code == 201, response.content
    return Playbook.objects.get(pk=response.json()["id"])


def start(person: Person, row: Playbook, **body: Any) -> dict[str, Any]:
    response = client_for(person).post(f"/api/v1/playbooks/{row.pk}/run/", body,
                                       content_type="application/json")
    assert response.status_code == 202, response.content
    return response.json()


def decide(person: Person, run_id: str, verb: str, comment: str = "") -> Any:
    return client_for(person).post(f"/api/v1/playbook-runs/{run_id}/{verb}/",
                                   {"comment": comment}, content_type="application/json")


def finished(run_id: str, timeout: float = 30) -> PlaybookRun:
    return wait_for(lambda: PlaybookRun.objects.filter(
        pk=run_id, status__in=PlaybookRun.TERMINAL).first(), timeout=timeout,
        message=f"run {run_id} to finish")


def settle(*run_ids: str) -> None:
    """Runs that were sent are left to finish, so the worker is not writing while the test's
    tables are emptied."""
    for run_id in run_ids:
        finished(run_id)


def events(run_id: Any) -> list[str]:
    return list(Event.objects.filter(object_id=str(run_id)).order_by("id")
                .values_list("name", flat=True))


# -- the spec ----------------------------------------------------------------------------------


def test_unknown_approvers_and_triggers_are_refused_with_their_paths(approver):
    team("sre")
    with pytest.raises(SpecError) as refused:
        validate({"title": "x", "actions": HELLO, "approval": {
            "approvers": {"people": ["approver@example.com", "nobody@example.com"],
                          "teams": ["sre", "ghosts"]},
            "skipFor": ["api", "carrier-pigeon"], "expiresAfter": "0s"}})

    paths = dict(refused.value.problems)
    assert paths.keys() == {"approval.approvers.people[1]", "approval.approvers.teams[1]",
                            "approval.skipFor[1]", "approval.expiresAfter"}
    assert "nobody@example.com" in paths["approval.approvers.people[1]"]


def test_an_approval_block_is_normalised_with_its_defaults(approver):
    spec = validate({"title": "x", "actions": HELLO,
                     "approval": {"approvers": {"people": ["Approver@Example.com"]}}})

    assert spec["approval"] == {"type": "any", "expiresAfter": "72h", "skipFor": [],
                                "approvers": {"people": ["approver@example.com"], "teams": []}}
    with pytest.raises(SpecError, match=r"approval\.approvers: name at least one person or team"):
        validate({"title": "x", "actions": HELLO, "approval": {"approvers": {}}})


# -- waiting and deciding ----------------------------------------------------------------------


def test_a_run_needing_approval_waits_and_the_worker_runs_nothing(editor, approver,
                                                                 celery_worker_process):
    guarded = playbook(editor, {"approvers": {"people": [approver.email]}})
    free = Playbook.objects.get(pk=client_for(editor).post("/api/v1/playbooks/", {
        "name": "free", "namespace": "ops", "spec": {"title": "Free", "actions": HELLO}},
        content_type="application/json").json()["id"])

    waiting = start(editor, guarded)
    # Even a message naming the run is refused: the worker claims only scheduled runs. The
    # solo worker takes messages in order, so once the next run has finished this one was seen.
    app.send_task("playbooks.tasks.run_playbook", args=[waiting["id"]])
    assert finished(start(editor, free)["id"]).status == "completed"

    run = PlaybookRun.objects.get(pk=waiting["id"])
    assert waiting["status"] == "pending_approval"
    assert run.status == "pending_approval" and run.started_at is None
    assert not run.actions.exists()
    assert events(run.pk) == ["playbook.run.pending_approval"]


def test_an_approval_sends_the_run_and_it_completes(editor, approver, celery_worker_process):
    guarded = playbook(editor, {"approvers": {"people": [approver.email]}})
    waiting = start(editor, guarded)

    response = decide(approver, waiting["id"], "approve", "ship it")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "scheduled"
    done = finished(waiting["id"])
    assert done.status == "completed", done.error
    assert list(done.approvals.values_list("person__email", "decision", "comment")) == [
        (approver.email, "approved", "ship it")]
    names = events(done.pk)
    assert names[:3] == ["playbook.run.pending_approval", "playbook.approval.recorded",
                         "playbook.run.scheduled"]
    assert "playbook.run.completed" in names
    lines = list(done.log_lines.values_list("line", flat=True))
    assert "approved by approver@example.com: ship it" in lines and "approved-and-ran" in lines
    assert AuditEvent.objects.filter(action="playbook.approve", actor_person=approver,
                                     object_id=str(done.pk)).exists()


def test_type_all_needs_every_listed_person_and_a_member_of_every_team(editor, approver,
                                                                      celery_worker_process):
    lead = make_person("lead@example.com", "viewer")
    sre_one, sre_two = make_person("sre1@example.com"), make_person("sre2@example.com")
    team("sre", sre_one, sre_two)
    guarded = playbook(editor, {"type": "all",
                                "approvers": {"people": [approver.email, lead.email],
                                              "teams": ["sre"]}})
    run_id = start(editor, guarded)["id"]

    def status() -> str:
        return PlaybookRun.objects.get(pk=run_id).status

    assert decide(approver, run_id, "approve").json()["status"] == "pending_approval"
    assert decide(sre_one, run_id, "approve").json()["status"] == "pending_approval"
    assert status() == "pending_approval"
    last = decide(lead, run_id, "approve")

    assert last.status_code == 200 and last.json()["status"] == "scheduled"
    assert PlaybookApproval.objects.get(run_id=run_id, person=sre_one).via_team.name == "sre"
    assert PlaybookApproval.objects.get(run_id=run_id, person=lead).via_team is None
    # Decided: the second team member has nothing left to approve.
    assert decide(sre_two, run_id, "approve").status_code == 409
    settle(run_id)


def test_a_rejection_cancels_the_run_with_the_comment(editor, approver):
    guarded = playbook(editor, {"type": "all", "approvers": {"people": [approver.email]}})
    run_id = start(editor, guarded)["id"]

    response = decide(approver, run_id, "reject", "not during the freeze")

    assert response.status_code == 200
    run = PlaybookRun.objects.get(pk=run_id)
    assert run.status == "cancelled" and run.finished_at is not None
    assert run.error == "rejected by approver@example.com: not during the freeze"
    assert run.started_at is None and not run.actions.exists()
    assert events(run_id)[-2:] == ["playbook.approval.recorded", "playbook.run.cancelled"]
    assert decide(approver, run_id, "approve").status_code == 409


def test_a_non_approver_is_refused_and_nothing_changes(editor, approver):
    guarded = playbook(editor, {"approvers": {"people": [approver.email]}})
    run_id = start(editor, guarded)["id"]
    onlooker = make_person("onlooker@example.com", "viewer")
    assign_perm("view_playbook", onlooker, guarded)
    stranger = make_person("stranger@example.com", "viewer")
    before = events(run_id)

    seen = decide(onlooker, run_id, "approve")
    unseen = decide(stranger, run_id, "approve")
    own = decide(editor, run_id, "approve")

    assert seen.status_code == 403 and seen["Content-Type"] == "application/problem+json"
    assert seen.json()["detail"] == "You are not one of the approvers of this run."
    assert unseen.status_code == 404
    assert own.status_code == 403  # the requester is not an approver of their own run
    assert PlaybookRun.objects.get(pk=run_id).status == "pending_approval"
    assert not PlaybookApproval.objects.exists()
    assert events(run_id) == before


def test_an_approver_deciding_twice_is_told_so(editor, approver):
    other = make_person("other@example.com")
    guarded = playbook(editor, {"type": "all",
                                "approvers": {"people": [approver.email, other.email]}})
    run_id = start(editor, guarded)["id"]
    decide(approver, run_id, "approve")

    again = decide(approver, run_id, "reject")

    assert again.status_code == 409
    assert again.json()["detail"] == "You have already approved this run."
    assert PlaybookRun.objects.get(pk=run_id).status == "pending_approval"


def test_a_run_started_by_an_approver_starts_at_once(editor, approver, celery_worker_process):
    member = make_person("member@example.com", "viewer")
    team("sre", member)
    guarded = playbook(editor, {"approvers": {"people": [approver.email], "teams": ["sre"]}})
    for person in (approver, member):
        assign_perm("view_playbook", person, guarded)
        assign_perm("run_playbook", person, guarded)

    mine, ours = start(approver, guarded), start(member, guarded)

    assert mine["status"] == "scheduled" and ours["status"] == "scheduled"
    # A worker from an earlier test may be running it already: only the first event is fixed.
    assert events(mine["id"])[0] == "playbook.run.scheduled"
    assert "playbook.run.pending_approval" not in events(mine["id"])
    settle(mine["id"], ours["id"])


def test_skip_for_lets_those_triggers_through(editor, approver, celery_worker_process):
    guarded = playbook(editor, {"approvers": {"people": [approver.email]}, "skipFor": ["api"]})

    through_api = start(editor, guarded)
    by_hand = execution.start(guarded, user=editor, trigger="manual", send=False)

    assert through_api["status"] == "scheduled"
    assert by_hand.status == "pending_approval"
    settle(through_api["id"])


def test_an_undecided_run_expires(editor, approver):
    guarded = playbook(editor, {"approvers": {"people": [approver.email]},
                                "expiresAfter": "1h"})
    run_id = start(editor, guarded)["id"]
    created = PlaybookRun.objects.get(pk=run_id).created_at

    assert approvals.expire(created + timedelta(minutes=59)) == 0
    assert approvals.expire(created + timedelta(minutes=61)) == 1

    run = PlaybookRun.objects.get(pk=run_id)
    assert run.status == "cancelled"
    assert run.error == "approval expired: no decision within 1h"
    assert events(run_id)[-1] == "playbook.run.cancelled"
    assert decide(approver, run_id, "approve").status_code == 409
    assert settings.CELERY_BEAT_SCHEDULE["expire-approvals"] == {
        "task": "playbooks.tasks.expire_approvals", "schedule": 300.0}


def test_the_time_limit_counts_from_the_approval(editor, approver, celery_worker_process):
    guarded = playbook(editor, {"approvers": {"people": [approver.email]}}, timeout="10m")
    run_id = start(editor, guarded)["id"]
    PlaybookRun.objects.filter(pk=run_id).update(created_at=timezone.now() - timedelta(hours=5),
                                                 timeout_at=timezone.now() - timedelta(hours=4))

    decide(approver, run_id, "approve")

    left = PlaybookRun.objects.get(pk=run_id).timeout_at - timezone.now()
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)
    settle(run_id)


# -- the inbox ---------------------------------------------------------------------------------


def test_the_inbox_lists_only_runs_waiting_for_the_viewer(editor, approver, settings,
                                                         celery_worker_process):
    from connections import crypto

    settings.FLIGHTDECK_SECRET_KEYS = [crypto.development_key()]
    someone = make_person("someone@example.com")
    team("sre", approver)
    mine = playbook(editor, {"approvers": {"people": [approver.email]}}, name="mine",
                    parameters=[{"name": "token", "type": "secret"},
                                {"name": "replicas", "default": "3"}])
    via_team = playbook(editor, {"approvers": {"teams": ["sre"]}}, name="via-team")
    theirs = playbook(editor, {"approvers": {"people": [someone.email]}}, name="theirs")
    both = playbook(editor, {"type": "all", "approvers": {"people": [approver.email,
                                                                     someone.email]}},
                    name="decided")
    secret = "s3cret-" + "q" * 12
    shown = [start(editor, mine, params={"token": secret})["id"], start(editor, via_team)["id"]]
    hidden = [start(editor, theirs)["id"], start(editor, both)["id"]]
    decide(approver, hidden[1], "approve")  # still waiting, but no longer for this viewer
    assign_perm("view_playbook", approver, mine)
    assign_perm("run_playbook", approver, mine)
    own = start(approver, mine)
    assert own["status"] == "scheduled"  # an approver's own run never waits

    page = client_for(approver).get("/playbooks/approvals/")

    html = page.content.decode()
    assert page.status_code == 200
    assert [str(r.pk) for r in approvals.pending_for(approver).order_by("created_at")] == shown
    for run_id in shown:
        assert f'id="approval-{run_id}"' in html
    for run_id in hidden:
        assert run_id not in html
    assert "Mine" in html and "Via-Team" in html and "ed@example.com" in html
    assert "<code>***</code>" in html and secret not in html and "<code>3</code>" in html
    assert 'name="csrfmiddlewaretoken"' in html and 'value="approve"' in html
    assert 'hx-get="/playbooks/approvals/?part=count"' in html  # the nav loads it afterwards
    badge = client_for(approver).get("/playbooks/approvals/?part=count", HTTP_HX_REQUEST="true")
    assert badge.status_code == 200
    assert badge.content.decode().strip() == ('<span class="nav-count" aria-label="2 waiting">'
                                              '2</span>')
    empty = client_for(someone).get("/playbooks/approvals/").content.decode()
    assert "No runs are waiting for your decision." not in empty  # two wait for someone
    assert "No runs are waiting for your decision." in client_for(editor).get(
        "/playbooks/approvals/").content.decode()
    settle(own["id"])


def test_approving_from_the_inbox(editor, approver):
    guarded = playbook(editor, {"approvers": {"people": [approver.email]}})
    run_id = start(editor, guarded)["id"]
    client = client_for(approver)

    response = client.post(f"/playbooks/runs/{run_id}/decide/",
                           {"decision": "reject", "comment": "wrong cluster"})

    assert response.status_code == 302 and response["Location"] == "/playbooks/approvals/"
    run = PlaybookRun.objects.get(pk=run_id)
    assert run.status == "cancelled" and run.error.endswith("wrong cluster")
    follow = client.get("/playbooks/approvals/").content.decode()
    assert "You rejected the run of Guarded." in follow
    assert "No runs are waiting for your decision." in follow


def test_a_non_approver_is_refused_on_the_page(editor, approver):
    guarded = playbook(editor, {"approvers": {"people": [approver.email]}})
    run_id = start(editor, guarded)["id"]
    onlooker = make_person("onlooker@example.com", "viewer")
    assign_perm("view_playbook", onlooker, guarded)

    seen = client_for(onlooker).post(f"/playbooks/runs/{run_id}/decide/",
                                     {"decision": "approve"})
    unseen = client_for(make_person("x@example.com")).post(
        f"/playbooks/runs/{run_id}/decide/", {"decision": "approve"})

    assert seen.status_code == 403 and unseen.status_code == 404
    assert PlaybookRun.objects.get(pk=run_id).status == "pending_approval"
    assert not PlaybookApproval.objects.exists()
