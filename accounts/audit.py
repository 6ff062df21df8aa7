"""An audit row for every state-changing request (logins write their own) and every login attempt.

Outcomes: `success` (2xx and ordinary redirects), `denied` (401, 403, 404, or a redirect to a
login page) and `error` (any other 4xx or 5xx)."""

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import reverse

from accounts.models import AuditEvent

log = logging.getLogger("flightdeck.audit")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Login writes its own row through the signals below, with the person it concerns.
SKIP_PATHS = ("/accounts/login/", "/admin/login/")


def _client(request: HttpRequest) -> dict[str, Any]:
    return {
        "request_id": getattr(request, "request_id", ""),
        "ip": request.META.get("REMOTE_ADDR") or None,
        "user_agent": request.headers.get("User-Agent", "")[:255],
    }


def record(
    request: HttpRequest | None,
    action: str,
    *,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    obj: Any = None,
    changes: dict[str, Any] | None = None,
    person: Any = None,
) -> AuditEvent:
    """Domain code calls this for actions worth naming (`scrape.run`, `token.create`)."""
    user = person or (getattr(request, "user", None) if request is not None else None)
    token = getattr(request, "auth", None) if request is not None else None
    return AuditEvent.objects.create(
        actor_person=user if getattr(user, "is_authenticated", False) else None,
        actor_token=token if token.__class__.__name__ == "APIToken" else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:255] if obj is not None else "",
        outcome=outcome,
        changes=changes or {},
        **(_client(request) if request is not None else {}),
    )


# 404 counts as a refusal: views answer 404 for objects the person may not see, so that a
# refusal does not confirm the object exists.
DENIED_STATUSES = frozenset({401, 403, 404})


def _login_urls() -> tuple[str, ...]:
    return (resolve_url(settings.LOGIN_URL), reverse("admin:login"))


def outcome_for(status_code: int, location: str = "") -> str:
    """`location` is the redirect target: being sent to a login page is a refusal too."""
    if status_code in DENIED_STATUSES:
        return AuditEvent.Outcome.DENIED
    if 300 <= status_code < 400 and location and urlsplit(location).path in _login_urls():
        return AuditEvent.Outcome.DENIED
    if status_code >= 400:
        return AuditEvent.Outcome.ERROR
    return AuditEvent.Outcome.SUCCESS


class AuditMiddleware:
    """Runs last so it sees the authenticated user, including API token users set by DRF."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method in UNSAFE_METHODS and not request.path.startswith(SKIP_PATHS):
            drf_request = getattr(response, "renderer_context", {}).get("request")
            source = drf_request if drf_request is not None else request
            try:
                record(
                    source,
                    f"{request.method.lower()} {request.resolver_match.view_name}"
                    if request.resolver_match
                    else f"{request.method.lower()} {request.path[:48]}",
                    outcome=outcome_for(response.status_code, response.get("Location", "")),
                    changes={"path": request.path, "status": response.status_code},
                )
            except Exception:  # an audit failure must be loud but must not hide the response
                log.exception("audit write failed", extra={"path": request.path})
        return response


@receiver(user_logged_in)
def _logged_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    record(request, "login", person=user)


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                  **kwargs: Any) -> None:
    # Only the attempted email is kept; the password never reaches the audit row.
    record(
        request,
        "login",
        outcome=AuditEvent.Outcome.DENIED,
        changes={"email": str(credentials.get("username", ""))[:254]},
    )
