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
APPROVAL_TYPES = ("any", "all")
DEFAULT_APPROVAL_EXPIRY = "72h"


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


class ApproversSerializer(serializers.Serializer):
    """People by email and teams by name; both must exist when the spec is saved."""

    people = serializers.ListField(child=serializers.EmailField(), required=False, default=list)
    teams = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    def validate_people(self, people: list[str]) -> list[str]:
        from accounts.models import Person

        # Emails are stored lower-cased (accounts.models.PersonManager); match them the same way.
        emails = [email.lower() for email in people]
        known = set(Person.objects.filter(email__in=emails, is_active=True)
                    .values_list("email", flat=True))
        unknown = {index: [f"no active person has the email {email}"]
                   for index, email in enumerate(emails) if email not in known}
        if unknown:
            raise serializers.ValidationError(unknown)
        return emails

    def validate_teams(self, teams: list[str]) -> list[str]:
        from accounts.models import Team

        known = set(Team.objects.filter(name__in=teams).values_list("name", flat=True))
        unknown = {index: [f"no team is named {name}"]
                   for index, name in enumerate(teams) if name not in known}
        if unknown:
            raise serializers.ValidationError(unknown)
        return teams

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("people") and not attrs.get("teams"):
            raise serializers.ValidationError("name at least one person or team")
        return attrs


class ApprovalSerializer(serializers.Serializer):
    """Who must approve a run before it starts (playbooks/approvals.py enforces it)."""

    type = serializers.ChoiceField(APPROVAL_TYPES, default="any")
    approvers = ApproversSerializer()
    expiresAfter = serializers.CharField(default=DEFAULT_APPROVAL_EXPIRY, validators=[_duration])
    skipFor = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    def validate_expiresAfter(self, value: str) -> str:
        if parse_duration(value).total_seconds() <= 0:
            raise serializers.ValidationError("must be longer than zero")
        return value

    def validate_skipFor(self, triggers: list[str]) -> list[str]:
        from playbooks.models import PlaybookRun

        names = PlaybookRun.Trigger.values
        wrong = {index: [f"unknown trigger; use one of: {', '.join(names)}"]
                 for index, name in enumerate(triggers) if name not in names}
        if wrong:
            raise serializers.ValidationError(wrong)
        return triggers


WEBHOOK_PATH = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
HMAC_ALGORITHMS = ("sha256", "sha1")
DEFAULT_SIGNATURE_HEADER = "X-Signature-256"
EVENT_FILTER_DECLARATIONS = {"event": "dyn", "config": "dyn", "run": "dyn", "check": "dyn"}


class SecretReferenceField(serializers.JSONField):
    """Webhook credentials: a secretKeyRef or env reference, resolved when a request arrives."""

    def to_internal_value(self, data: Any) -> Any:
        from connections.spec import secret_reference_error

        if problem := secret_reference_error(data):
            raise serializers.ValidationError(problem)
        return data


class HmacSerializer(serializers.Serializer):
    header = serializers.RegexField(r"^[A-Za-z0-9-]{1,64}$", default=DEFAULT_SIGNATURE_HEADER)
    secret = SecretReferenceField()
    algorithm = serializers.ChoiceField(HMAC_ALGORITHMS, default="sha256")


class GithubSerializer(serializers.Serializer):
    secret = SecretReferenceField()


class BasicSerializer(serializers.Serializer):
    # A user name is not a secret: plain text or a reference.
    username = serializers.JSONField()
    password = SecretReferenceField()

    def validate_username(self, value: Any) -> Any:
        from connections.spec import secret_reference_error

        if isinstance(value, str) and value:
            return value
        if problem := secret_reference_error(value):
            raise serializers.ValidationError(f"a user name or {problem.removeprefix('must be ')}")
        return value


class AuthenticationSerializer(serializers.Serializer):
    """Exactly one method: a webhook nobody has to prove anything to would run for anyone."""

    hmac = HmacSerializer(required=False)
    github = GithubSerializer(required=False)
    basic = BasicSerializer(required=False)
    bearer = SecretReferenceField(required=False)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping) and "jwt" in data:
            raise serializers.ValidationError({"jwt": ["not supported yet; use hmac, github, "
                                                       "basic or bearer"]})
        attrs = super().to_internal_value(data)
        if len(attrs) != 1:
            raise serializers.ValidationError(
                "give exactly one of hmac, github, basic or bearer"
                + (f"; found {', '.join(attrs)}" if attrs else ""))
        return attrs


class WebhookSerializer(serializers.Serializer):
    path = serializers.RegexField(WEBHOOK_PATH, error_messages={
        "invalid": "letters, digits, '.', '_' and '-', at most 128, starting with a letter or "
                   "digit"})
    authentication = AuthenticationSerializer(error_messages={
        "required": "a webhook needs authentication (hmac, github, basic or bearer)",
        "null": "a webhook needs authentication (hmac, github, basic or bearer)"})


def _params_templates(params: Mapping[str, Any]) -> Mapping[str, Any]:
    problems: list[tuple[str, str]] = []
    _templates_in(params, "", problems)
    if problems:
        errors: dict[str, list[str]] = {}
        for path, message in problems:
            errors.setdefault(path, []).append(message)
        raise serializers.ValidationError(errors)
    return params


class EventTriggerSerializer(serializers.Serializer):
    # fnmatch patterns (`config.*`) are allowed, so names are not checked against a list.
    event = serializers.RegexField(r"^[a-z*?\[\]][a-z0-9_.*?\[\]-]{0,63}$")
    filter = serializers.CharField(required=False, allow_blank=False)
    params = serializers.DictField(required=False, default=dict)

    def validate_filter(self, source: str) -> str:
        try:
            expressions.check_bool(source, EVENT_FILTER_DECLARATIONS)
        except ExpressionError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return source

    def validate_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(_params_templates(params))


class ScheduleTriggerSerializer(serializers.Serializer):
    cron = serializers.CharField()
    timezone = serializers.CharField(default="UTC")
    configs = SelectorSerializer(many=True, required=False, default=list)
    params = serializers.DictField(required=False, default=dict)

    def validate_cron(self, cron: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise serializers.ValidationError("not a cron expression (five fields, such as "
                                              "'0 20 * * MON-FRI')")
        return cron

    def validate_timezone(self, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(
                f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from None
        return name

    def validate_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(_params_templates(params))


class TriggersSerializer(serializers.Serializer):
    manual = serializers.BooleanField(default=True)
    webhook = WebhookSerializer(required=False)
    events = EventTriggerSerializer(many=True, required=False, default=list)
    schedule = ScheduleTriggerSerializer(many=True, required=False, default=list)


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
    approval = ApprovalSerializer(required=False)
    actions = ActionSerializer(many=True, allow_empty=False)

    def validate_filters(self, filters: list[str]) -> list[str]:
        for source in filters:
            try:
                expressions.check_bool(source, FILTER_DECLARATIONS)
            except ExpressionError as exc:
                raise serializers.ValidationError(f"{source!r}: {exc}") from None
        return filters

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A schedule entry without configs means one untargeted run, which a playbook that only
        # runs against items would refuse at every tick; say so now instead.
        if attrs.get("configs"):
            untargeted = {index: {"configs": ["this playbook runs against catalog items "
                                              "(spec.configs); say which ones to run on"]}
                          for index, entry in enumerate((attrs.get("on") or {}).get("schedule")
                                                        or []) if not entry.get("configs")}
            if untargeted:
                raise serializers.ValidationError({"on": {"schedule": untargeted}})
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
