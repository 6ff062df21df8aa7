"""Run parameters: defaults, checks by type, and secrets that are never stored in clear.

The same rules serve the self-service form, the API and non-manual triggers, so a value refused
in one is refused in all, with the parameter's name in the message.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from connections import crypto
from portal import templating
from portal.errors import FlightdeckError, TemplateError
from portal.ids import parse_uuid

SECRET_MARK = "__secret__"  # noqa: S105 - the key that marks an encrypted value, not a secret
MAX_TEXT = 65_536


class ParameterError(FlightdeckError):
    """`problems` maps parameter name -> message, for the form and the API alike."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"params.{k}: {v}" for k, v in problems.items()))


def _default(param: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
    default = param.get("default")
    if isinstance(default, str):
        return templating.render_yaml_value(default, context)
    return default


def default(param: Mapping[str, Any], context: Mapping[str, Any], namespace: str = "") -> Any:
    """The value an empty field gets, as the form pre-fills it and resolve() applies it; a bare
    connection name is the playbook's namespace's."""
    value = _default(param, context)
    if (param.get("type") == "connection" and isinstance(value, str) and value
            and "://" not in value and namespace):
        return f"connection://{namespace}/{value}"
    return value


def _check(param: Mapping[str, Any], value: Any, user: Any, namespace: str) -> Any:
    """The value as the run will see it, or ValueError with a message for the person."""
    kind = param.get("type", "text")
    props = param.get("properties") or {}
    if kind == "checkbox":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "on", "1", "yes"):
            return True
        if str(value).lower() in ("false", "off", "0", "no", ""):
            return False
        raise ValueError("must be true or false")
    if kind == "list":
        allowed = [str(option["value"]) for option in props.get("options") or []]
        values = value if isinstance(value, list) else [value]
        if not props.get("multiple") and len(values) != 1:
            raise ValueError("choose one option")
        for item in values:
            if str(item) not in allowed:
                raise ValueError(f"{item!r} is not one of the options")
        return [str(v) for v in values] if props.get("multiple") else str(values[0])
    text = "" if value is None else str(value)
    if len(text) > MAX_TEXT:
        raise ValueError(f"is longer than {MAX_TEXT:,} characters")
    if kind == "text":
        if "minLength" in props and len(text) < int(props["minLength"]):
            raise ValueError(f"needs at least {props['minLength']} characters")
        if "maxLength" in props and len(text) > int(props["maxLength"]):
            raise ValueError(f"may have at most {props['maxLength']} characters")
        if props.get("pattern") and not re.fullmatch(props["pattern"], text):
            raise ValueError(f"must match {props['pattern']}")
    elif kind == "config":
        from catalog.access import visible_items

        if not visible_items(user).filter(pk=parse_uuid(text), deleted_at__isnull=True).exists():
            raise ValueError("no such catalog item, or it is not shared with you")
    elif kind == "connection":
        from connections.resolve import check_reference

        if "://" not in text:
            text = f"connection://{namespace}/{text}"  # a bare name: the playbook's namespace
        try:
            found = check_reference(text, namespace=namespace, user=user)
        except FlightdeckError as exc:
            raise ValueError(str(exc)) from None
        types = props.get("types") or []
        if types and found.type not in types:
            raise ValueError(f"{text} is a {found.type} connection; this needs "
                             f"{' or '.join(types)}")
    elif kind == "team":
        from accounts.models import Team

        if not Team.objects.filter(name=text).exists():
            raise ValueError(f"no team named {text!r}")
    elif kind == "people":
        from accounts.models import Person

        if not Person.objects.filter(email__iexact=text, is_active=True).exists():
            raise ValueError(f"no active person with the email {text!r}")
    return text


def resolve(spec: Mapping[str, Any], given: Mapping[str, Any] | None, *,
            context: Mapping[str, Any], user: Any, namespace: str) -> dict[str, Any]:
    """Checked values for every declared parameter; secrets come back encrypted."""
    given = dict(given or {})
    declared = {p["name"]: p for p in spec.get("parameters") or []}
    problems: dict[str, str] = {
        name: "is not a parameter of this playbook" for name in given if name not in declared}
    values: dict[str, Any] = {}
    for name, param in declared.items():
        raw = given.get(name)
        if raw is None or raw == "" or raw == []:
            try:
                raw = default(param, context, namespace)
            except TemplateError as exc:
                problems[name] = f"its default could not be rendered: {exc}"
                continue
        if raw is None or raw == "" or raw == []:
            if param.get("required") and param.get("type") != "checkbox":
                problems[name] = "is required"
                continue
            values[name] = False if param.get("type") == "checkbox" else ""
            continue
        try:
            value = _check(param, raw, user, namespace)
        except ValueError as exc:
            problems[name] = str(exc)
            continue
        if param.get("type") == "secret":
            token, _ = crypto.encrypt(str(value))
            value = {SECRET_MARK: base64.b64encode(token).decode()}
        values[name] = value
    if problems:
        raise ParameterError(problems)
    return values


def reveal(values: Mapping[str, Any]) -> dict[str, Any]:
    """Secrets decrypted, in the worker only, at the moment a run needs them."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Mapping) and SECRET_MARK in value:
            out[name] = crypto.decrypt(base64.b64decode(value[SECRET_MARK]))
        else:
            out[name] = value
    return out


def shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """For pages and the API: secrets as stars, never their ciphertext."""
    return {name: "***" if isinstance(value, Mapping) and SECRET_MARK in value else value
            for name, value in values.items()}
