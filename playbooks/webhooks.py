"""`POST /api/v1/webhooks/<path>`: a signed or authenticated request starts a playbook run.

There is no session and no API token here: the caller proves itself with the playbook's
`on.webhook.authentication` (an HMAC over the raw body, a GitHub signature, basic or bearer
credentials), so a webhook without authentication cannot be defined. Every comparison is
constant-time, credentials are resolved from their secret references per request, and a refused
request creates nothing. The stored request keeps no credential headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from playbooks import execution
from playbooks.models import Playbook, PlaybookRun
from playbooks.spec import DEFAULT_SIGNATURE_HEADER
from portal.errors import FlightdeckError

log = logging.getLogger("flightdeck.playbooks.webhooks")

GITHUB_HEADER = "X-Hub-Signature-256"
# Delivery ids in the order we trust them; the first present one makes a redelivery a no-op.
DELIVERY_HEADERS = ("X-GitHub-Delivery", "Idempotency-Key", "X-Request-Id")
# Never stored on the run: they are the credentials (or a session) of the caller.
DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie",
                             "x-hub-signature", "x-hub-signature-256",
                             DEFAULT_SIGNATURE_HEADER.lower()})
STORED_BODY = 64 * 1024
MAX_DELIVERY_ID = 120


class Refused(Exception):
    """Missing or wrong credentials: always 401, and the reason is only logged."""


def _problem(status: int, title: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"type": "about:blank", "title": title, "status": status,
                             "detail": detail}, status=status,
                            content_type="application/problem+json")
    for name, value in headers.items():
        response[name] = value
    return response


def _secret(playbook: Playbook, value: Any, field: str) -> bytes:
    from connections.resolve import resolve_envvar

    return resolve_envvar(value, namespace=playbook.namespace, owner=f"playbook {playbook.ref}",
                          field=f"on.webhook.authentication.{field}").encode()


def _signature(header_value: str, algorithm: str) -> bytes:
    """`sha256=<hex>` (GitHub's form) or the bare hex digest."""
    prefix, _, digest = header_value.strip().rpartition("=")
    if prefix and prefix.lower() != algorithm:
        raise Refused(f"signature uses {prefix}, expected {algorithm}")
    try:
        return bytes.fromhex(digest)
    except ValueError:
        raise Refused("signature is not hex") from None


def _check_hmac(request: HttpRequest, playbook: Playbook, header: str, secret: Any,
                algorithm: str, field: str) -> None:
    given = request.headers.get(header)
    if not given:
        raise Refused(f"no {header} header")
    expected = hmac.new(_secret(playbook, secret, field), request.body,
                        getattr(hashlib, algorithm)).digest()
    if not hmac.compare_digest(expected, _signature(given, algorithm)):
        raise Refused("signature does not match")


def _credentials(request: HttpRequest, scheme: str) -> str:
    kind, _, value = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != scheme.lower() or not value.strip():
        raise Refused(f"no {scheme} credentials")
    return value.strip()


def authenticate(request: HttpRequest, playbook: Playbook) -> None:
    """Raises Refused unless the request carries the credentials the spec asks for."""
    auth = playbook.spec["on"]["webhook"]["authentication"]
    if "hmac" in auth:
        conf = auth["hmac"]
        _check_hmac(request, playbook, conf.get("header") or DEFAULT_SIGNATURE_HEADER,
                    conf["secret"], conf.get("algorithm") or "sha256", "hmac.secret")
    elif "github" in auth:
        _check_hmac(request, playbook, GITHUB_HEADER, auth["github"]["secret"], "sha256",
                    "github.secret")
    elif "bearer" in auth:
        given = _credentials(request, "Bearer").encode()
        if not hmac.compare_digest(given, _secret(playbook, auth["bearer"], "bearer")):
            raise Refused("bearer token does not match")
    elif "basic" in auth:
        try:
            user, _, password = base64.b64decode(_credentials(request, "Basic"),
                                                 validate=True).partition(b":")
        except ValueError:
            raise Refused("basic credentials are not base64") from None
        conf = auth["basic"]
        username = conf["username"]
        expected_user = username.encode() if isinstance(username, str) else _secret(
            playbook, username, "basic.username")
        # Both comparisons always run, so timing does not tell which part was wrong.
        ok_user = hmac.compare_digest(user, expected_user)
        ok_password = hmac.compare_digest(password,
                                          _secret(playbook, conf["password"], "basic.password"))
        if not (ok_user & ok_password):
            raise Refused("basic credentials do not match")
    else:  # validation refuses this; a hand-written row must still not run for anyone
        raise Refused("the webhook has no authentication")


def stored_request(request: HttpRequest, path: str, playbook: Playbook) -> dict[str, Any]:
    """What templates see as `request`, without the caller's credentials, the body capped."""
    auth = playbook.spec["on"]["webhook"]["authentication"]
    dropped = DROPPED_HEADERS | {str((auth.get("hmac") or {}).get("header", "")).lower()}
    headers = {name: value for name, value in request.headers.items()
               if name.lower() not in dropped}
    body = request.body
    text = body[:STORED_BODY].decode("utf-8", errors="replace")
    parsed = None
    if len(body) <= STORED_BODY and "json" in request.content_type:
        try:
            parsed = json.loads(body or b"null")
        except ValueError:
            parsed = None
    return {"method": request.method, "path": path, "headers": headers,
            "query": {key: values[0] if len(values) == 1 else values
                      for key, values in request.GET.lists()},
            "body": text, "json": parsed, "truncated": len(body) > STORED_BODY}


def delivery_key(request: HttpRequest, playbook: Playbook) -> str | None:
    for header in DELIVERY_HEADERS:
        if value := request.headers.get(header, "").strip():
            if len(value) > MAX_DELIVERY_ID or not value.isprintable():
                value = hashlib.sha256(value.encode()).hexdigest()
            return f"webhook:{playbook.pk}:{value}"
    return None


# The caller proves itself with the webhook's own signature or credentials (authenticate()),
# not with a session or API token, so neither login nor CSRF applies; the access rule is public.
@csrf_exempt
@login_not_required
@require_POST
def receive(request: HttpRequest, path: str) -> JsonResponse:
    playbook = Playbook.objects.live().filter(spec__on__webhook__path=path).first()
    if playbook is None:
        return _problem(404, "Not Found", f"no playbook listens on webhook {path!r}")
    try:
        authenticate(request, playbook)
    except Refused as exc:
        log.warning("webhook refused", extra={"playbook_id": str(playbook.pk),
                                              "reason": str(exc)})
        auth = playbook.spec["on"]["webhook"]["authentication"]
        challenge = {"WWW-Authenticate": "Bearer" if "bearer" in auth else "Basic"} \
            if {"bearer", "basic"} & set(auth) else {}
        return _problem(401, "Unauthorized", "missing or invalid webhook credentials",
                        **challenge)
    except FlightdeckError as exc:  # the secret reference cannot be read right now
        log.error("webhook credentials unavailable", extra={"playbook_id": str(playbook.pk),
                                                            "reason": str(exc)})
        return _problem(503, "Service Unavailable", "the webhook's credentials cannot be read; "
                        "ask the playbook's owner to check its secret reference")
    try:
        run = execution.start(playbook, user=None, trigger=PlaybookRun.Trigger.WEBHOOK,
                              request=stored_request(request, path, playbook),
                              idempotency_key=delivery_key(request, playbook))
    except FlightdeckError as exc:  # a required parameter without a default, a target needed
        return _problem(422, "Unprocessable Content", str(exc))
    return JsonResponse({"id": str(run.pk), "status": run.status,
                         "url": request.build_absolute_uri(run.get_absolute_url())}, status=202)
