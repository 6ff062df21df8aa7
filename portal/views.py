"""Probes and the landing redirect."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET
from redis import Redis


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers; nothing else is checked so a DB blip never kills pods."""
    return JsonResponse({"status": "ok"})


def _database() -> tuple[bool, str]:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # any failure means "not ready"; the reason is shown to the probe
        return False, f"database unreachable: {exc.__class__.__name__}"
    if pending:
        return False, f"{len(pending)} migrations not applied"
    return True, "ok"


def _redis() -> tuple[bool, str]:
    try:
        Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:  # same: report, never raise from a probe
        return False, f"redis unreachable: {exc.__class__.__name__}"
    return True, "ok"


@login_not_required
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database reachable with migrations applied, and Redis reachable."""
    checks = {"database": _database(), "redis": _redis()}
    ready = all(ok for ok, _ in checks.values())
    body = {"status": "ok" if ready else "unavailable"}
    body.update({name: detail for name, (_, detail) in checks.items()})
    return JsonResponse(body, status=200 if ready else 503)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("catalog:item_list")
