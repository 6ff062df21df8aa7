"""Connection references in action specs: look up, check the type, resolve, and its SSRF policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connections import resolve as resolving
from connections import ssrf
from connections.errors import ConnectionFailure
from connections.models import Connection
from playbooks.actions.base import ActionContext, ActionError

# Every policy an action builds starts from this one. Tests replace it to inject a stub resolver
# or to mark one loopback listener as external, the way connections' own SSRF tests do.
BASE_POLICY = ssrf.Policy()


def policy(*, internal: bool, timeout: float) -> ssrf.Policy:
    """Private addresses only for connections an admin marked internal; never for bare URLs."""
    return dataclasses.replace(BASE_POLICY, allow_internal=internal,
                               timeout=max(0.1, float(timeout)))


@dataclass
class Resolved:
    connection: Connection
    settings: Any
    policy: ssrf.Policy


def lookup(ctx: ActionContext, ref: str, types: Iterable[str], what: str) -> Connection:
    """The connection row, shared with the playbook's namespace and of an accepted type."""
    accepted = tuple(types)
    ref = str(ref).strip()
    if "://" not in ref:
        ref = f"connection://{ref}"  # a bare name is in the playbook's namespace
    try:
        connection = resolving.lookup(ref, namespace=ctx.namespace)
    except ConnectionFailure as exc:
        raise ActionError(str(exc)) from None
    if connection.type not in accepted:
        raise ActionError(f"Connection {connection.reference} is a {connection.type} connection; "
                          f"{what} needs {' or '.join(accepted)}.")
    return connection


def resolve(ctx: ActionContext, ref: str, types: Iterable[str], what: str,
            timeout: float) -> Resolved:
    """Secrets are read here, in the worker, just before use; the use is audited with the actor."""
    connection = lookup(ctx, ref, types, what)
    try:
        settings = resolving.resolve(connection, purpose=f"playbook {what} {ctx.action_name}",
                                     actor=ctx.actor)
    except ConnectionFailure as exc:
        raise ActionError(str(exc)) from None
    return Resolved(connection, settings, policy(internal=connection.internal, timeout=timeout))
