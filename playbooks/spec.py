"""The playbook spec: one validator for the API, the admin, YAML files and (later) the CRD.

Errors name the field path (`actions[1].http.expectStatus[0]: ...`) so a person can find the
line to fix whichever way the spec arrived. Templates are checked for syntax and CEL for types
here; values are rendered only when a run starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from playbooks.actions import KIND_NAMES, kind
from portal import expressions, templating
from portal.durations import parse_duration
from portal.errors import ExpressionError, FlightdeckError, TemplateError

PARAMETER_TYPES = ("text", "code", "checkbox", "list", "people", "team", "config", "check",
                   "connection", "secret")
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$"
# `if` helpers become booleans the engine computes from earlier actions.
_HELPERS = {"success()": "fd_success", "failure()": "fd_failure", "always()": "true",
            "skip()": "false"}
_HELPER_RE = re.compile(r"\b(success|failure|always|skip)\(\s*\)")
IF_DECLARATIONS = {"fd_success": "bool", "fd_failure": "bool", "params": "dyn", "config": "dyn",
                   "actions": "dyn", "env": "dyn", "run": "dyn"}
FILTER_DECLARATIONS = {"config": "dyn"}
DEFAULT_TIMEOUT = "30m"


class SpecError(FlightdeckError):
    """A spec that cannot be saved; `problems` are ("path", "message") pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" if path else message
                                   for path, message in problems))


def if_source(condition: str | None) -> str:
    """The CEL the engine evaluates for an action's `if` (default: run after successes)."""
    text = (condition or "success()").strip()
    return _HELPER_RE.sub(lambda m: _HELPERS[m.group(0).replace(" ", "")], text)


def _duration(value: Any) -> None:
    if not isinstance(value, str):
        raise serializers.ValidationError("must be a duration such as 30s, 5m or 1h")
    try:
        parse_duration(value)
    except (ValueError, FlightdeckError) as exc:
        raise serializers.ValidationError(str(exc)) from None


def _template(value: Any) -> None:
    try:
        templating.check_syntax(value)
    except TemplateError as exc:
        raise serializers.ValidationError(f"template: {exc}") from None


def _templates_in(value: Any, path: str, problems: list[tuple[str, str]]) -> None:
    """Every string inside a block must at least compile as a template."""
    if isinstance(value, str):
        try:
            templating.check_syntax(value)
        except TemplateError as exc:
            problems.append((path, f"template: {exc}"))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _templates_in(item, f"{path}.{key}" if path else str(key), problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _templates_in(item, f"{path}[{index}]", problems)


class SelectorSerializer(serializers.Serializer):
    """Which items a playbook applies to: the search language, or its common shorthands."""

    search = serializers.CharField(required=False, allow_blank=False)
    types = serializers.ListField(child=serializers.CharField(), required=False)
    namespace = serializers.CharField(required=False)
    tagSelector = serializers.CharField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from catalog.search import SearchError, parse

        if not attrs:
            raise serializers.ValidationError("give search, types, namespace or tagSelector")
        try:
            parse(selector_query(attrs))
        except SearchError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return attrs


def selector_query(selector: Mapping[str, Any]) -> str:
    """A selector as one search-language query, so matching reuses the one compiler."""
    parts = []
    if selector.get("types"):
        parts.append("type=" + ",".join(selector["types"]))
    if selector.get("namespace"):
        parts.append(f"namespace={selector['namespace']}")
    for term in (selector.get("tagSelector") or "").split(","):
        if term.strip():
            key, _, value = term.strip().partition("=")
            parts.append(f"tags.{key.strip()}={value.strip()}")
    if selector.get("search"):
        parts.append(selector["search"])
    return " ".join(parts)


class ParameterSerializer(serializers.Serializer):
    name = serializers.RegexField(IDENTIFIER)
    label = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    type = serializers.ChoiceField(PARAMETER_TYPES, default="text")
    required = serializers.BooleanField(default=False)
    default = serializers.JSONField(required=False)
    properties = serializers.DictField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        props = attrs.get("properties") or {}
        if "pattern" in props:
            try:
                re.compile(props["pattern"])
            except (re.error, TypeError) as exc:
                raise serializers.ValidationError(
                    {"properties": [f"pattern is not a valid regular expression: {exc}"]}
                ) from None
        if attrs["type"] == "list":
            options = props.get("options")
            if not isinstance(options, list) or not options or not all(
                    isinstance(o, Mapping) and "value" in o for o in options):
                raise serializers.ValidationError(
                    {"properties": ["a list parameter needs options: [{label, value}, ...]"]})
        if attrs["type"] == "secret" and "default" in attrs:
            raise serializers.ValidationError({"default": ["a secret parameter has no default"]})
        if isinstance(attrs.get("default"), str):
            _template(attrs["default"])
        return attrs


class RetrySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=0, max_value=10, default=0)
    backoff = serializers.CharField(default="10s", validators=[_duration])
    multiplier = serializers.FloatField(min_value=1, max_value=10, default=2)
    maxBackoff = serializers.CharField(default="10m", validators=[_duration])
    jitter = serializers.IntegerField(min_value=0, max_value=100, default=0)


class ActionSerializer(serializers.Serializer):
    name = serializers.RegexField(IDENTIFIER)
    # `if` is a Python keyword: the field is declared under its spec name in __init__.
    delay = serializers.CharField(required=False, validators=[_duration])
    timeout = serializers.CharField(required=False, validators=[_duration])
    retry = RetrySerializer(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["if"] = serializers.CharField(required=False, allow_blank=False)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        attrs = super().to_internal_value(data)
        if not isinstance(data, Mapping):
            return attrs
        kinds = [key for key in data if key in KIND_NAMES]
        unknown = sorted(set(data) - set(self.fields) - set(KIND_NAMES))
        errors: dict[str, list[str]] = {}
        for key in unknown:
            errors[key] = [f"unknown field; an action has one of: {', '.join(KIND_NAMES)}"]
        if len(kinds) != 1:
            errors["non_field_errors"] = [
                f"an action needs exactly one kind ({', '.join(KIND_NAMES)}); found "
                f"{', '.join(kinds) or 'none'}"]
        else:
            block = data[kinds[0]]
            if not isinstance(block, Mapping):
                errors[kinds[0]] = ["must be a mapping"]
            else:
                problems: list[tuple[str, str]] = []
                _templates_in(block, "", problems)
                problems += kind(kinds[0]).validate(block)
                for path, message in problems:
                    errors.setdefault(f"{kinds[0]}.{path}" if path else kinds[0], []).append(
                        message)
                attrs[kinds[0]] = dict(block)
        if "if" in attrs:
            try:
                expressions.check_bool(if_source(attrs["if"]), IF_DECLARATIONS)
            except ExpressionError as exc:
                errors["if"] = [str(exc)]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class TriggersSerializer(serializers.Serializer):
    manual = serializers.BooleanField(default=True)


class SpecSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    category = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=100)
    icon = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    timeout = serializers.CharField(default=DEFAULT_TIMEOUT, validators=[_duration])
    configs = SelectorSerializer(many=True, required=False, default=list)
    filters = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    parameters = ParameterSerializer(many=True, required=False, default=list)
    on = TriggersSerializer(required=False, default=dict)
    env = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    actions = ActionSerializer(many=True, allow_empty=False)

    def validate_filters(self, filters: list[str]) -> list[str]:
        for source in filters:
            try:
                expressions.check_bool(source, FILTER_DECLARATIONS)
            except ExpressionError as exc:
                raise serializers.ValidationError(f"{source!r}: {exc}") from None
        return filters

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for field, items in (("actions", attrs["actions"]), ("parameters", attrs["parameters"])):
            names = [item["name"] for item in items]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise serializers.ValidationError(
                    {field: [f"names must be unique; repeated: {', '.join(duplicates)}"]})
        return attrs


def _flatten(detail: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if key == "non_field_errors":
                _flatten(value, path, out)
            elif isinstance(key, int) or str(key).isdigit():
                _flatten(value, f"{path}[{key}]", out)
            else:
                _flatten(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            out.extend((path, str(item)) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    _flatten(item, f"{path}[{index}]", out)
    else:
        out.append((path, str(detail)))


def validate(spec: Any) -> dict[str, Any]:
    """The normalised spec, or SpecError listing every problem with its field path."""
    serializer = SpecSerializer(data=spec)
    if not serializer.is_valid():
        problems: list[tuple[str, str]] = []
        _flatten(serializer.errors, "", problems)
        raise SpecError(problems)
    return _plain(serializer.validated_data)


def _plain(value: Any) -> Any:
    """OrderedDicts and ReturnDicts to plain JSON values for the JSONField."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
