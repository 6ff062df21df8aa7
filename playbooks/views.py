"""Playbook pages: thin adapters over for_user() querysets, playbooks.forms and execution."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from itertools import groupby
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import record
from catalog.access import visible_items
from playbooks import approvals, execution, forms, parameters
from playbooks.access import may_cancel
from playbooks.actions import KIND_NAMES
from playbooks.models import Playbook, PlaybookApproval, PlaybookRun
from playbooks.spec import selector_query
from portal.htmx import htmx_redirect, is_partial
from portal.ids import parse_uuid

RECENT_RUNS = 10
RUNS_PAGE = 50


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


# -- the catalog of playbooks ----------------------------------------------------------------


@require_GET
def playbook_list(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "").strip()
    playbooks = (Playbook.objects.for_user(request.user).live()
                 .annotate(run_count=Count("runs")).order_by("category", "title", "id"))
    if text:
        playbooks = playbooks.filter(Q(title__icontains=text) | Q(description__icontains=text)
                                     | Q(name__icontains=text) | Q(category__icontains=text))
    groups = [(category or "Other", list(rows))
              for category, rows in groupby(playbooks, key=lambda p: p.category)]
    context = {"q": text, "groups": groups}
    if is_partial(request):
        return render(request, "playbooks/partials/_catalog.html", context)
    return render(request, "playbooks/playbook_list.html", context)


# -- one playbook and its run form -----------------------------------------------------------


def _summary(playbook: Playbook) -> dict[str, Any]:
    """The spec as the detail page lists it: targets as search queries, actions by kind."""
    spec = playbook.spec or {}
    actions = []
    for action in spec.get("actions") or []:
        kind = next((k for k in action if k in KIND_NAMES), "")
        actions.append({"name": action.get("name"), "kind": kind, "if": action.get("if", ""),
                        "timeout": action.get("timeout", ""),
                        "retries": (action.get("retry") or {}).get("limit", 0)})
    return {"targets": [selector_query(s) for s in spec.get("configs") or []],
            "filters": spec.get("filters") or [], "timeout": spec.get("timeout", ""),
            "parameters": spec.get("parameters") or [], "actions": actions,
            "manual": (spec.get("on") or {}).get("manual", True)}


def _form_context(request: HttpRequest, playbook: Playbook, *, data: QueryDict | None = None,
                  errors: dict[str, str] | None = None,
                  target: forms.Target | None = None) -> dict[str, Any]:
    if target is None:
        target = forms.target(playbook, request.user, request.GET.get("config"))
    given = forms.submitted(playbook.spec, data) if data is not None else None
    return {
        "playbook": playbook, "target": target,
        "fields": forms.fields(playbook, user=request.user, config=target.item, given=given,
                               errors=errors),
        "dry_run": data is not None and data.get("dry_run") in ("on", "true", "1"),
    }


@require_GET
def playbook_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    playbook = get_object_or_404(Playbook.objects.for_user(request.user).live(), pk=pk)
    can_run = Playbook.objects.filter(pk=playbook.pk).for_user(request.user, "run").exists()
    context: dict[str, Any] = {
        "playbook": playbook, "summary": _summary(playbook), "can_run": can_run,
        "runs": PlaybookRun.objects.for_user(request.user).filter(playbook=playbook)
        .select_related("config", "created_by").order_by("-created_at", "-id")[:RECENT_RUNS],
    }
    if can_run:
        context.update(_form_context(request, playbook))
    return render(request, "playbooks/playbook_detail.html", context)


@require_http_methods(["GET", "POST"])
def playbook_run(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """GET draws the form (`?config=<item id>` picks the target); POST starts the run."""
    playbook = get_object_or_404(Playbook.objects.for_user(request.user, "run").live(), pk=pk)
    if request.method == "GET":
        context = _form_context(request, playbook)
        template = ("playbooks/partials/_run_form.html" if is_partial(request)
                    else "playbooks/run_form.html")
        return render(request, template, context)
    target = forms.target(playbook, request.user, request.POST.get("config"))
    errors: dict[str, str] = {}
    if target.needed and target.item is None and not target.error:
        target.error = "choose the catalog item to run against"
    if not target.error:
        try:
            run = execution.start(
                playbook, user=request.user, config=target.item,
                params=forms.submitted(playbook.spec, request.POST),
                trigger=PlaybookRun.Trigger.MANUAL,
                dry_run=request.POST.get("dry_run") in ("on", "true", "1"))
        except parameters.ParameterError as exc:
            errors = exc.problems
        except execution.NotApplicable as exc:
            target.error = str(exc)
        else:
            record(request, "playbook.run", obj=playbook)
            return htmx_redirect(request, run.get_absolute_url())
    context = _form_context(request, playbook, data=request.POST, errors=errors, target=target)
    # Problems about names the form does not show (none today) still reach the person.
    shown = {f.name for f in context["fields"]}
    context["other_errors"] = [f"{k}: {v}" for k, v in errors.items() if k not in shown]
    return render(request, "playbooks/run_form.html", context, status=400)


# -- runs ------------------------------------------------------------------------------------


def _result_summary(result: Any, limit: int = 200) -> str:
    """A line for the actions table; the full result stays in the API."""
    if not result:
        return ""
    if isinstance(result, dict):
        text = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in result.items())
    else:
        text = json.dumps(result, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _visible_target(user: Any, run: PlaybookRun) -> Any:
    """A run may be visible while its item is not; then the page names no item."""
    if run.config_id is None:
        return None
    return visible_items(user).filter(pk=run.config_id).only("id", "name", "type").first()


def _actions(run: PlaybookRun) -> list[Any]:
    actions = list(run.actions.all())
    for action in actions:
        action.result_summary = _result_summary(action.result)
    return actions


@require_GET
def run_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The run page; an htmx request gets the log lines after `?after=<seq>` instead."""
    run = get_object_or_404(PlaybookRun.objects.for_user(request.user).select_related(
        "playbook", "created_by"), pk=pk)
    after = max(_int(request.GET.get("after")), 0)
    lines = execution.since(run, after)
    context = {
        "run": run, "lines": lines, "cursor": lines[-1].seq if lines else after,
        # A page of lines came back full: there may be more even after the run has finished.
        "poll": not run.is_terminal or len(lines) >= 500,
        "actions": _actions(run), "can_cancel": not run.is_terminal
        and may_cancel(request.user, run),
        "shown_parameters": parameters.shown(run.parameters or {}),
    }
    if is_partial(request):
        return render(request, "playbooks/partials/_run_log.html", context)
    context["target"] = _visible_target(request.user, run)
    return render(request, "playbooks/run_detail.html", context)


@require_POST
def run_cancel(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    run = get_object_or_404(PlaybookRun.objects.for_user(request.user), pk=pk)
    if not may_cancel(request.user, run):
        raise Http404("No such run, or it is not shared with you.")
    if run.is_terminal:
        messages.info(request, f"The run had already finished ({run.status}).")
    else:
        run = execution.cancel(run, request.user)
        record(request, "playbook.cancel", obj=run)
        messages.success(request, "Cancel requested." if run.status == run.Status.RUNNING
                         else "Run cancelled.")
    return htmx_redirect(request, run.get_absolute_url())


def _cursor(token: str | None) -> tuple[datetime, uuid.UUID] | None:
    """`<created_at>_<id>` of the last row shown; anything else starts from the newest."""
    stamp, _, pk = (token or "").rpartition("_")
    try:
        return datetime.fromisoformat(stamp), uuid.UUID(pk)
    except ValueError:
        return None


def _filtered_runs(request: HttpRequest) -> tuple[QuerySet[PlaybookRun], dict[str, Any]]:
    runs = PlaybookRun.objects.for_user(request.user).select_related(
        "playbook", "config", "created_by")
    chosen = {"playbook": parse_uuid(request.GET.get("playbook")),
              "status": request.GET.get("status", "")}
    if chosen["playbook"]:
        runs = runs.filter(playbook_id=chosen["playbook"])
    if chosen["status"] in PlaybookRun.Status.values:
        runs = runs.filter(status=chosen["status"])
    else:
        chosen["status"] = ""
    return runs, chosen


@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    """Newest first, a keyset page at a time so new runs never shift the next page."""
    runs, chosen = _filtered_runs(request)
    if (cursor := _cursor(request.GET.get("before"))) is not None:
        stamp, pk = cursor
        runs = runs.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, id__lt=pk))
    rows = list(runs.order_by("-created_at", "-id")[:RUNS_PAGE + 1])
    more, rows = len(rows) > RUNS_PAGE, rows[:RUNS_PAGE]
    next_url = None
    if more:
        query = request.GET.copy()
        query["before"] = f"{rows[-1].created_at.isoformat()}_{rows[-1].pk}"
        next_url = "?" + query.urlencode()
    context = {"runs": rows, "next_url": next_url, "chosen": chosen,
               "first_url": "?" + _without(request.GET, "before") if cursor else None,
               "statuses": PlaybookRun.Status.values,
               "playbooks": Playbook.objects.for_user(request.user).live()
               .order_by("title").only("id", "title")}
    if is_partial(request):
        return render(request, "playbooks/partials/_run_rows.html", context)
    return render(request, "playbooks/run_list.html", context)


def _without(params: QueryDict, name: str) -> str:
    query = params.copy()
    query.pop(name, None)
    return query.urlencode()


# -- approvals -------------------------------------------------------------------------------


@require_GET
def approval_inbox(request: HttpRequest) -> HttpResponse:
    """Runs waiting for the viewer's decision, oldest (closest to expiring) first.

    The nav asks the same URL for just the count (`?part=count` over htmx) after the page has
    loaded, so the other pages never pay a query for it."""
    if request.htmx and request.GET.get("part") == "count":
        return render(request, "playbooks/partials/_approvals_count.html",
                      {"waiting": approvals.pending_for(request.user).count()})
    runs = list(approvals.pending_for(request.user)
                .select_related("playbook", "config", "created_by").order_by("created_at", "id"))
    # One query for every target: an approver may decide a run on an item they cannot open,
    # so the name is shown and the link only where the item is shared with them.
    shared = set(visible_items(request.user).filter(
        pk__in=[r.config_id for r in runs if r.config_id]).values_list("pk", flat=True))
    rows = [{"run": run, "shown_parameters": parameters.shown(run.parameters or {}),
             "expires_at": approvals.expires_at(run), "linked": run.config_id in shared,
             "rule": approvals.rule_of(run.spec) or {}} for run in runs]
    return render(request, "playbooks/approvals.html", {"rows": rows})


@require_POST
def run_decide(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Approve or reject from the inbox; the same checks and order as the API."""
    run = PlaybookRun.objects.filter(pk=pk).first()
    if run is None or not (PlaybookRun.objects.for_user(request.user).filter(pk=pk).exists()
                           or approvals.is_approver(run, request.user)):
        raise Http404("No such run, or it is not shared with you.")
    decision = {"approve": PlaybookApproval.Decision.APPROVED,
                "reject": PlaybookApproval.Decision.REJECTED}.get(request.POST.get("decision", ""))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = reverse("playbooks:approvals")
    if decision is None:
        messages.error(request, "Choose Approve or Reject.")
        return htmx_redirect(request, back)
    try:
        run = approvals.decide(run, request.user, decision, request.POST.get("comment", ""))
    except approvals.NotAnApprover as exc:
        raise PermissionDenied(str(exc)) from None
    except approvals.ApprovalError as exc:
        messages.info(request, str(exc))
        return htmx_redirect(request, back)
    record(request, "playbook.approve" if decision == PlaybookApproval.Decision.APPROVED
           else "playbook.reject", obj=run)
    messages.success(request, f"You {decision} the run of {run.playbook.title}"
                     + (" and it is scheduled." if run.status == PlaybookRun.Status.SCHEDULED
                        else "."))
    return htmx_redirect(request, back)
