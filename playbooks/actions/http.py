"""`http`: one request through the SSRF guard, to a connection's base URL or a bare URL.

A connection supplies the base URL, auth headers and TLS options; `url` beside it is joined to
the base and must stay on the connection's origin, so its credentials never travel elsewhere.
A bare `url` may only reach public addresses. Redirects are followed hop by hop, each one
re-checked by connections/ssrf.py.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from connections import ssrf
from connections.errors import ConnectionFailure
from connections.kinds.base import ProbeContext
from connections.kinds.http import header_map
from playbooks.actions import connection as connections
from playbooks.actions.base import ActionContext, ActionError, Problem
from portal.durations import parse_duration

BODY_CAP = 256 * 1024
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
FIELDS = frozenset({"connection", "url", "method", "headers", "body", "expectStatus", "timeout"})
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|api-?key|password", re.I)
MASK = "***"


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _status(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 100 <= number <= 599 and str(value).strip() == str(number) else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    try:
        seconds = parse_duration(str(value)).total_seconds()
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def validate(spec: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = [(key, "Unknown field.") for key in sorted(set(spec) - FIELDS)]
    if not spec.get("connection") and not spec.get("url"):
        problems.append(("url", "Give a connection or a url."))
    method = spec.get("method", "GET")
    if not _templated(method) and str(method).upper() not in METHODS:
        problems.append(("method", f"must be one of {', '.join(sorted(METHODS))}"))
    headers = spec.get("headers")
    if headers is not None and not isinstance(headers, list):
        problems.append(("headers", "must be a list of {name, value}"))
    for index, item in enumerate(headers if isinstance(headers, list) else []):
        where = f"headers[{index}]"
        if not isinstance(item, Mapping):
            problems.append((where, "must be a mapping with name and value"))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not (HEADER_NAME.match(name) or _templated(name)):
            problems.append((f"{where}.name", "must be an HTTP header name"))
        if any(c in str(item.get("value", "")) for c in "\r\n\0"):
            problems.append((f"{where}.value", "may not contain line breaks"))
    body = spec.get("body")
    if body is not None and not isinstance(body, str | Mapping | list):
        problems.append(("body", "must be a string"))
    expect = spec.get("expectStatus")
    if expect is not None and not isinstance(expect, list):
        problems.append(("expectStatus", "must be a list of HTTP statuses"))
    for index, value in enumerate(expect if isinstance(expect, list) else []):
        if not _templated(value) and _status(value) is None:
            problems.append((f"expectStatus[{index}]",
                             "must be an HTTP status between 100 and 599"))
    if "timeout" in spec and not _templated(spec["timeout"]) and _seconds(spec["timeout"]) is None:
        problems.append(("timeout", "must be a positive number of seconds or a duration (30s)"))
    return problems


def masked(headers: Mapping[str, str]) -> dict[str, str]:
    """Header values that carry credentials, hidden; the rest as they would be sent."""
    return {name: MASK if SECRET_HEADER.search(name) else value for name, value in headers.items()}


def _join(base: str, url: str) -> str:
    """`url` relative to the connection's base, refused when it would leave that origin."""
    if not url:
        return base
    joined = urljoin(base if base.endswith("/") or "?" in base else base + "/", url)
    policy = ssrf.Policy()
    try:
        same = ssrf.parse_url(joined, policy).origin == ssrf.parse_url(base, policy).origin
    except ConnectionFailure as exc:
        raise ActionError(f"url: {exc}") from None
    if not same:
        raise ActionError("url: must stay on the connection's host; give a url without a "
                          "connection to call another host")
    return joined


def _body(spec: Mapping[str, Any]) -> tuple[bytes | None, str | None]:
    body = spec.get("body")
    if body is None or body == "":
        return None, None
    if isinstance(body, Mapping | list):  # a body that was one `{{ ... }}` may arrive parsed
        return json.dumps(body).encode(), "application/json"
    return str(body).encode(), None


def _spec_headers(spec: Mapping[str, Any]) -> dict[str, str]:
    headers = header_map(list(spec.get("headers") or []))
    for name, value in headers.items():
        if not HEADER_NAME.match(name) or any(c in value for c in "\r\n\0"):
            raise ActionError(f"headers: '{name[:60]}' is not a valid header")
    return headers


def _expected(spec: Mapping[str, Any]) -> list[int]:
    statuses = []
    for index, value in enumerate(spec.get("expectStatus") or []):
        status = _status(value)
        if status is None:
            raise ActionError(f"expectStatus[{index}]: must be an HTTP status between 100 and 599")
        statuses.append(status)
    return statuses


def run(ctx: ActionContext) -> dict[str, Any]:
    spec = ctx.spec
    method = str(spec.get("method") or "GET").upper()
    if method not in METHODS:
        raise ActionError(f"method: must be one of {', '.join(sorted(METHODS))}")
    timeout = float(ctx.timeout)
    if spec.get("timeout"):
        timeout = min(timeout, _seconds(spec["timeout"]) or timeout)  # the block may only shorten
    expected = _expected(spec)
    body, content_type = _body(spec)
    headers = _spec_headers(spec)
    if content_type and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    if ctx.dry_run:
        return {"plan": _plan(ctx, method, headers, body)}
    if ctx.cancelled():
        raise ActionError("Cancelled before the request was sent.", {"cancelled": True})
    tls = None
    if spec.get("connection"):
        resolved = connections.resolve(ctx, str(spec["connection"]), ("http",), "http", timeout)
        conf, policy = resolved.settings, resolved.policy
        url, tls = _join(conf.url, str(spec.get("url") or "")), conf.tls
        try:
            auth = conf.with_token(ProbeContext(policy, conf.tls))
        except ConnectionFailure as exc:
            raise ActionError(str(exc)) from None
        headers = {**auth, **headers}
    else:
        url = str(spec["url"])
        policy = connections.policy(internal=False, timeout=timeout)
    try:
        response = ssrf.request(method, url, policy=policy, headers=headers, body=body, tls=tls,
                                max_body=BODY_CAP + 1)
    except ConnectionFailure as exc:
        raise ActionError(str(exc), {"url": url}) from None
    except (OSError, http.client.HTTPException) as exc:
        raise ActionError(f"{method} {url}: {exc.__class__.__name__}: {str(exc)[:200]}",
                          {"url": url}) from None
    result = _result(response)
    ok = response.status in expected if expected else 200 <= response.status < 300
    if not ok:
        wanted = ", ".join(map(str, expected)) if expected else "2xx"
        raise ActionError(f"{method} {response.url}: HTTP {response.status}, expected {wanted}.",
                          result)
    return result


def _result(response: ssrf.Response) -> dict[str, Any]:
    raw = response.body[:BODY_CAP]
    truncated = len(response.body) > BODY_CAP
    text = raw.decode("utf-8", "replace")
    parsed = None
    if raw.strip() and not truncated:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
    return {"status": response.status, "headers": dict(response.headers), "body": text,
            "json": parsed, "truncated": truncated, "url": response.url}


def _plan(ctx: ActionContext, method: str, headers: dict[str, str],
          body: bytes | None) -> dict[str, Any]:
    """What would be sent, from the connection row alone: no secret is read, nothing sent."""
    spec = ctx.spec
    if spec.get("connection"):
        connection = connections.lookup(ctx, str(spec["connection"]), ("http",), "http")
        block = connection.block
        url = _join(str(block.get("url") or ""), str(spec.get("url") or ""))
        sent = dict(header_map(block.get("headers")))
        if block.get("bearer") or block.get("username") or block.get("password") or \
                (block.get("oauth") or {}).get("tokenURL"):
            sent["Authorization"] = MASK
        headers = {**sent, **headers}
    else:
        url = str(spec["url"])
    try:
        ssrf.parse_url(url, ssrf.Policy())  # scheme and shape only: no DNS, no connection
    except ConnectionFailure as exc:
        raise ActionError(f"url: {exc}") from None
    return {"method": method, "url": url, "headers": masked(headers),
            "body": None if body is None else body.decode("utf-8", "replace")}


class Http:
    name = "http"

    def validate(self, spec: Mapping[str, Any]) -> list[Problem]:
        return validate(spec)

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        return run(ctx)


KIND = Http()
