"""`sql`: one statement on a postgres connection, its parameters bound by the driver.

Parameters are passed to the driver next to the query (`%(name)s` placeholders), never formatted
into it, so a value can never become SQL. The statement runs in a thread of its own while this
thread polls cancel and the deadline, so a stuck query is cancelled on the server. A dry run
executes the statement in a transaction that is rolled back. Statements that return rows are
streamed, so a huge result costs time (bounded by the statement timeout) but not memory.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import ipaddress
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections.errors import ConnectionFailure
from connections.kinds import postgres
from playbooks.actions import connection as connections
from playbooks.actions.base import ActionContext, ActionError, Problem

MAX_ROWS = 1000
MAX_VALUE = 64 * 1024  # characters of one text value kept in a row
POLL = 0.2
CONNECT_TIMEOUT = 10.0
GRACE = 5.0  # after a server-side cancel, how long we wait for the driver to return
FIELDS = frozenset({"connection", "query", "params"})
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TYPES = ("postgres",)
# Statements whose rows are streamed; anything else is executed and its row count kept.
ROW_STATEMENTS = frozenset({"select", "with", "values", "table", "show", "explain", "fetch"})
_LEADING = re.compile(r"^(\s+|--[^\n]*(\n|$)|/\*.*?\*/|\()+", re.S)


def validate(spec: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = [(key, "Unknown field.") for key in sorted(set(spec) - FIELDS)]
    if not isinstance(spec.get("connection"), str) or not spec["connection"].strip():
        problems.append(("connection", "This field is required."))
    if not isinstance(spec.get("query"), str) or not spec["query"].strip():
        problems.append(("query", "This field is required."))
    params = spec.get("params")
    if params is not None and not isinstance(params, Mapping):
        problems.append(("params", "must be a mapping of name to value"))
    for name in params if isinstance(params, Mapping) else {}:
        if not isinstance(name, str) or not PARAM_NAME.match(name):
            problems.append((f"params.{name}", "must be an identifier ([A-Za-z_][A-Za-z0-9_]*)"))
    return problems


def first_keyword(query: str) -> str:
    rest = _LEADING.sub("", query, count=1)
    match = re.match(r"[A-Za-z]+", rest)
    return match.group(0).lower() if match else ""


def json_safe(value: Any) -> Any:
    """Row values as JSON: exact decimals and binary as text, times in ISO 8601."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) \
            else str(value)
    if isinstance(value, str):
        return value[:MAX_VALUE]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)[:MAX_VALUE]).decode()
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address
                  | ipaddress.IPv4Network | ipaddress.IPv6Network
                  | ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)[:MAX_VALUE]


@dataclass
class _Query:
    """What the query thread hands back to the action's thread."""

    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_count: int | None = None
    truncated: bool = False
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _execute(conn: Any, query: str, params: Mapping[str, Any] | None, timeout: float,
             dry_run: bool, out: _Query) -> None:
    import psycopg

    try:
        # Server-side limit: a stuck statement is stopped even if this worker dies.
        conn.execute("SELECT set_config('statement_timeout', %s, false)",
                     (str(max(1, int(timeout * 1000))),))
        if dry_run:
            conn.autocommit = False
        cur = conn.cursor()
        if first_keyword(query) in ROW_STATEMENTS:
            try:
                stream = cur.stream(query, params)
                first = next(stream, None)
            except psycopg.ProgrammingError as exc:
                if exc.sqlstate:  # a server error, not "no rows to stream"
                    raise
                # A WITH ... UPDATE without RETURNING: it ran, but has no rows to stream.
                out.row_count = None
            else:
                _collect(cur, stream, first, out)
        else:
            cur.execute(query, params)
            out.row_count = cur.rowcount if cur.rowcount >= 0 else None
            if cur.description is not None:
                _collect(cur, iter(cur), None, out)
                out.row_count = max(out.row_count or 0, 0)
        if dry_run:
            conn.rollback()
    except BaseException as exc:  # handed to the action's thread, which raises it
        out.error = exc
    finally:
        out.done.set()


def _collect(cur: Any, rows: Any, first: Any, out: _Query) -> None:
    out.columns = [column.name for column in cur.description or []]
    count = 0
    pending = [first] if first is not None else []
    for row in _chain(pending, rows):
        count += 1
        if len(out.rows) < MAX_ROWS:
            out.rows.append({name: json_safe(v) for name, v in zip(out.columns, row,
                                                                   strict=False)})
        else:
            out.truncated = True
    out.row_count = count if out.row_count is None or out.row_count < 0 else out.row_count


def _chain(head: list[Any], rest: Any) -> Any:
    yield from head
    yield from rest


def run(ctx: ActionContext) -> dict[str, Any]:
    import psycopg

    spec = ctx.spec
    query = str(spec.get("query") or "")
    if not query.strip():
        raise ActionError("query: This field is required.")
    params = dict(spec.get("params") or {}) or None
    if ctx.cancelled():
        raise ActionError("Cancelled before the query was sent.", {"cancelled": True})
    deadline = time.monotonic() + max(0.0, float(ctx.timeout))
    resolved = connections.resolve(ctx, str(spec.get("connection") or ""), TYPES, "sql",
                                   max(1.0, min(float(ctx.timeout), CONNECT_TIMEOUT)))
    try:
        conn = postgres.connect(resolved.settings, resolved.policy)
    except ConnectionFailure as exc:
        raise ActionError(str(exc)) from None
    except psycopg.Error as exc:
        raise ActionError(f"Cannot connect to {resolved.connection.reference}: "
                          f"{_first_line(exc)}") from None
    out = _Query()
    try:
        worker = threading.Thread(target=_execute, daemon=True, args=(
            conn, query, params, max(0.001, deadline - time.monotonic()), ctx.dry_run, out))
        worker.start()
        stopped = _wait(conn, out, ctx, deadline)
        if stopped:
            message = ("Cancelled; the query was stopped." if stopped == "cancelled"
                       else f"Timed out after {ctx.timeout:g} s; the query was stopped.")
            raise ActionError(message, {"cancelled": True} if stopped == "cancelled"
                              else {"timedOut": True})
    finally:
        if out.done.is_set():
            conn.close()
    if isinstance(out.error, psycopg.errors.QueryCanceled):
        raise ActionError(f"Timed out after {ctx.timeout:g} s (statement timeout).",
                          {"timedOut": True})
    if isinstance(out.error, psycopg.Error):
        raise ActionError(f"Query failed: {_first_line(out.error)}",
                          {"sqlstate": getattr(out.error, "sqlstate", None)})
    if out.error is not None:
        raise out.error
    result: dict[str, Any] = {"columns": out.columns, "rows": out.rows,
                              "rowCount": out.row_count, "truncated": out.truncated}
    if ctx.dry_run:
        result.update(dryRun=True, rolledBack=True,
                      note="Ran in a transaction that was rolled back; nothing was committed.")
    return result


def _wait(conn: Any, out: _Query, ctx: ActionContext, deadline: float) -> str:
    """Poll cancel and the deadline; cancel on the server rather than leave a query running."""
    while not out.done.wait(POLL):
        reason = "cancelled" if ctx.cancelled() else \
            "timeout" if time.monotonic() >= deadline + 1 else ""
        if reason:
            try:
                conn.cancel_safe(timeout=GRACE)
            except Exception:  # noqa: S110 - the deadline below still ends the wait
                pass
            out.done.wait(GRACE)
            return reason
    return ""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]


class Sql:
    name = "sql"

    def validate(self, spec: Mapping[str, Any]) -> list[Problem]:
        return validate(spec)

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        return run(ctx)


KIND = Sql()
