"""Approval of playbook runs: who must decide, recording decisions, expiring undecided runs.

A run whose spec has an `approval` block waits in `pending_approval` and is never sent to a
worker until its rule is met. The approvers are read from the run's spec snapshot, so editing
the playbook never changes who decides a run that is already waiting; team membership is read
when a person decides.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import (
    Exists,
    ExpressionWrapper,
    F,
    Func,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.fields.json import DataContains, KeyTransform
from django.utils import timezone

from accounts.models import Team, TeamMembership
from playbooks.models import PlaybookApproval, PlaybookRun
from playbooks.spec import DEFAULT_APPROVAL_EXPIRY
from portal import outbox, runs
from portal.durations import parse_duration
from portal.errors import FlightdeckError

log = logging.getLogger("flightdeck.playbooks")

Status = PlaybookRun.Status
Decision = PlaybookApproval.Decision


class ApprovalError(FlightdeckError):
    """A decision that cannot be recorded; the message says why."""


class NotAnApprover(ApprovalError):
    def __init__(self) -> None:
        super().__init__("You are not one of the approvers of this run.")


class NotPending(ApprovalError):
    def __init__(self, status: str) -> None:
        super().__init__(f"The run is {status.replace('_', ' ')}, not waiting for approval.")


class AlreadyDecided(ApprovalError):
    def __init__(self, decision: str) -> None:
        super().__init__(f"You have already {decision} this run.")


@dataclass(frozen=True)
class Approver:
    """Why a person may decide: listed by email, and/or a member of these listed teams."""

    direct: bool
    teams: tuple[Team, ...]

    def __bool__(self) -> bool:
        return self.direct or bool(self.teams)


def rule_of(spec: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The spec's approval block, or None when its runs start without one."""
    return (spec or {}).get("approval") or None


def _listed(rule: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    approvers = rule.get("approvers") or {}
    return ([email.lower() for email in approvers.get("people") or []],
            list(approvers.get("teams") or []))


def approver(rule: Mapping[str, Any] | None, person: Any) -> Approver:
    """How `person` is an approver under `rule` (falsy when they are not one)."""
    if rule is None or not getattr(person, "is_authenticated", False) \
            or not getattr(person, "is_active", True):
        return Approver(False, ())
    people, team_names = _listed(rule)
    teams = tuple(Team.objects.filter(name__in=team_names, members=person).order_by("name")) \
        if team_names else ()
    return Approver(person.email.lower() in people, teams)


def is_approver(run: PlaybookRun, person: Any) -> bool:
    return bool(approver(rule_of(run.spec), person))


def required(spec: Mapping[str, Any], *, trigger: str, user: Any) -> bool:
    """Whether a run started this way must wait: an approver's own run starts at once."""
    rule = rule_of(spec)
    if rule is None or trigger in (rule.get("skipFor") or []):
        return False
    return not approver(rule, user)


def satisfied(rule: Mapping[str, Any], approved: list[Any]) -> bool:
    """any: one approval. all: every listed person, and one member of every listed team."""
    if not approved:
        return False
    if (rule.get("type") or "any") == "any":
        return True
    people, team_names = _listed(rule)
    emails = {person.email.lower() for person in approved}
    if not set(people) <= emails:
        return False
    covered = set(Team.objects.filter(name__in=team_names, members__in=approved)
                  .values_list("name", flat=True))
    return set(team_names) <= covered


def decide(run: PlaybookRun, person: Any, decision: str, comment: str = "") -> PlaybookRun:
    """Record one approver's decision; a rejection cancels, the last approval needed sends.

    Raises NotPending, NotAnApprover or AlreadyDecided. The row lock makes two approvers who
    click at once decide one after the other, so the run is sent exactly once.
    """
    # execution imports this module to gate start(), so its run kind is imported here.
    from playbooks.execution import PLAYBOOK_RUNS

    if decision not in Decision.values:
        raise ApprovalError(f"A decision is one of: {', '.join(Decision.values)}.")
    comment = (comment or "").strip()
    with transaction.atomic():
        # of=self: the playbook row stays free for edits and for decisions on its other runs.
        locked = PlaybookRun.objects.select_for_update(of=("self",)).select_related(
            "playbook").get(pk=run.pk)
        rule = rule_of(locked.spec)
        # Whether the run is waiting is checked first: anyone who may see the run may see that.
        if locked.status != Status.PENDING_APPROVAL or rule is None:
            raise NotPending(locked.status)
        why = approver(rule, person)
        if not why:
            raise NotAnApprover()
        earlier = PlaybookApproval.objects.filter(run=locked, person=person).first()
        if earlier is not None:
            raise AlreadyDecided(earlier.decision)
        PlaybookApproval.objects.create(
            run=locked, person=person, decision=decision, comment=comment,
            via_team=None if why.direct else why.teams[0])
        outbox.emit("playbook.approval.recorded", "playbook_run", locked.pk,
                    {"run_id": str(locked.pk), "playbook": locked.playbook.ref,
                     "person": person.email, "decision": decision})
        said = f": {comment}" if comment else ""
        runs.append_log(PLAYBOOK_RUNS, locked.pk, f"{decision} by {person.email}{said}")
        now = timezone.now()
        if decision == Decision.REJECTED:
            _cancel(locked, now, f"rejected by {person.email}{said}")
        else:
            approved = [a.person for a in PlaybookApproval.objects.filter(
                run=locked, decision=Decision.APPROVED).select_related("person")]
            if satisfied(rule, approved):
                _send(locked, now, PLAYBOOK_RUNS)
    locked.refresh_from_db()
    return locked


def _cancel(run: PlaybookRun, now: datetime, reason: str) -> None:
    PlaybookRun.objects.filter(pk=run.pk).update(
        status=Status.CANCELLED, finished_at=now, error=reason[:4000])
    outbox.emit("playbook.run.cancelled", "playbook_run", run.pk,
                {"run_id": str(run.pk), "playbook": run.playbook.ref, "status": "cancelled",
                 "error": reason[:500]})


def _send(run: PlaybookRun, now: datetime, kind: runs.RunKind) -> None:
    # The run's time limit counts from approval: waiting for a person is not running time,
    # and queued_at restarts the reaper's clock for lost messages.
    timeout = parse_duration(run.spec.get("timeout") or "30m")
    PlaybookRun.objects.filter(pk=run.pk).update(status=Status.SCHEDULED, queued_at=now,
                                                 timeout_at=now + timeout)
    outbox.emit("playbook.run.scheduled", "playbook_run", run.pk,
                {"run_id": str(run.pk), "playbook": run.playbook.ref, "status": "scheduled"})
    runs.append_log(kind, run.pk, "approved: the run is scheduled")
    runs.dispatch(kind, run.pk)


def expires_at(run: PlaybookRun) -> datetime | None:
    """When a waiting run is cancelled for want of a decision."""
    rule = rule_of(run.spec)
    if rule is None:
        return None
    return run.created_at + parse_duration(rule.get("expiresAfter") or DEFAULT_APPROVAL_EXPIRY)


def expire(now: datetime | None = None) -> int:
    """Cancel runs that waited longer than their expiresAfter; returns how many."""
    from playbooks.execution import PLAYBOOK_RUNS

    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        # Few runs wait at once (a partial index covers them); each has its own expiry in its
        # spec, so they are compared here rather than in SQL. SKIP LOCKED: a run being decided
        # right now is looked at again on the next beat.
        waiting = (PlaybookRun.objects.select_for_update(skip_locked=True, of=("self",))
                   .select_related("playbook").filter(status=Status.PENDING_APPROVAL)
                   .only("id", "spec", "created_at", "playbook__name", "playbook__namespace"))
        for run in waiting:
            deadline = expires_at(run)
            if deadline is None or deadline > now:
                continue
            after = (rule_of(run.spec) or {}).get("expiresAfter") or DEFAULT_APPROVAL_EXPIRY
            reason = f"approval expired: no decision within {after}"
            _cancel(run, now, reason)
            runs.append_log(PLAYBOOK_RUNS, run.pk, reason, "warning")
            expired += 1
    if expired:
        log.info("approvals expired", extra={"count": expired})
    return expired


def pending_for(person: Any) -> QuerySet[PlaybookRun]:
    """Runs waiting for this person's decision: listed by email or through a team."""
    if not getattr(person, "is_authenticated", False):
        return PlaybookRun.objects.none()
    # One query, since the nav counts this on every page: the run's listed team names are
    # matched against the person's memberships inside the database (jsonb `@>` per team).
    listed_teams = KeyTransform("teams", KeyTransform("approvers", KeyTransform(
        "approval", ExpressionWrapper(OuterRef("spec"), output_field=JSONField()))))
    via_team = TeamMembership.objects.filter(
        DataContains(listed_teams, Func(F("team__name"), function="to_jsonb",
                                        output_field=JSONField())),
        person=person)
    named = Q(spec__approval__approvers__people__contains=[person.email.lower()]) \
        | Q(Exists(via_team))
    return (PlaybookRun.objects.filter(status=Status.PENDING_APPROVAL).filter(named)
            .exclude(approvals__person=person))
