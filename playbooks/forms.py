"""The self-service run form, built from a playbook's declared parameters.

Only presentation lives here: which control each parameter type gets, which choices it offers
and what it shows pre-filled. Every check on the values is parameters.resolve(), called by
execution.start(), so the form, the API and other triggers refuse the same things.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from catalog.access import visible_items
from playbooks import execution, parameters
from playbooks.models import Playbook
from playbooks.spec import selector_query
from portal.errors import TemplateError
from portal.ids import parse_uuid

PREFIX = "param-"  # form names never collide with `config`, `dry_run` or the CSRF token
MAX_CHOICES = 200  # beyond this a select is unusable; the control becomes a typed input


@dataclass
class ParamField:
    """One parameter as the template draws it."""

    name: str
    label: str
    type: str
    description: str = ""
    required: bool = False
    widget: str = "input"  # input, textarea, code, checkbox, select
    input_type: str = "text"
    value: Any = ""
    multiple: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    error: str = ""
    hint: str = ""

    @property
    def html_name(self) -> str:
        return PREFIX + self.name

    @property
    def html_id(self) -> str:
        return PREFIX + self.name

    @property
    def values(self) -> list[str]:
        """The selected values as strings, for marking options of a select."""
        if isinstance(self.value, list):
            return [str(v) for v in self.value]
        return [] if self.value in (None, "") else [str(self.value)]

    @property
    def checked(self) -> bool:
        if isinstance(self.value, bool):
            return self.value
        return str(self.value).lower() in ("true", "on", "1", "yes")


@dataclass
class Target:
    """The catalog item a targeted playbook runs against."""

    needed: bool
    item: Any = None
    choices: list[Any] = field(default_factory=list)
    typed: str = ""
    error: str = ""


def default_context(config: Any, user: Any) -> dict[str, Any]:
    # The same context execution.start() gives parameters.resolve(), so a default that
    # names the item or the person shows what the run would get.
    return {"config": execution.item_context(config), "user": execution.user_context(user)}


def default_for(param: dict[str, Any], context: dict[str, Any], namespace: str) -> Any:
    """The pre-filled value, rendered by the same code resolve() uses for an empty field."""
    if param.get("type") == "secret":
        return ""
    try:
        return parameters.default(param, context, namespace)
    except TemplateError:
        return ""  # resolve() names the broken default when the form is sent


def submitted(spec: dict[str, Any], data: QueryDict) -> dict[str, Any]:
    """The values the person sent, keyed by parameter name; absent fields are left out so
    resolve() applies their defaults."""
    given: dict[str, Any] = {}
    for param in spec.get("parameters") or []:
        name, kind = PREFIX + param["name"], param.get("type", "text")
        props = param.get("properties") or {}
        if kind == "list" and props.get("multiple"):
            if values := [v for v in data.getlist(name) if v != ""]:
                given[param["name"]] = values
        elif kind == "checkbox":
            # A hidden "false" precedes the box, so an unticked box still says false.
            if values := data.getlist(name):
                given[param["name"]] = values[-1]
        elif name in data:
            given[param["name"]] = data.get(name)
    return given


def _choices(param: dict[str, Any], user: Any) -> list[tuple[str, str]] | None:
    """Options for the types that pick from a known set; None means type the value."""
    kind = param.get("type", "text")
    if kind == "list":
        return [(str(o["value"]), str(o.get("label") or o["value"]))
                for o in (param.get("properties") or {}).get("options") or []]
    if kind == "team":
        from accounts.models import Team

        return [(n, n) for n in Team.objects.order_by("name").values_list("name", flat=True)]
    if kind == "people":
        from accounts.models import Person

        people = list(Person.objects.filter(is_active=True).order_by("email")
                      .values_list("email", flat=True)[:MAX_CHOICES + 1])
        return None if len(people) > MAX_CHOICES else [(e, e) for e in people]
    if kind == "config":
        items = list(visible_items(user).filter(deleted_at__isnull=True)
                     .order_by("type", "name").only("id", "name", "type")[:MAX_CHOICES + 1])
        if len(items) > MAX_CHOICES:
            return None
        return [(str(i.pk), f"{i.name} ({i.type})") for i in items]
    if kind == "connection":
        from connections.models import Connection

        rows = Connection.objects.for_user(user, "use").live().order_by("namespace", "name")
        return [(c.reference, c.reference) for c in rows[:MAX_CHOICES]]
    return None


def fields(playbook: Playbook, *, user: Any, config: Any = None,
           given: dict[str, Any] | None = None,
           errors: dict[str, str] | None = None) -> list[ParamField]:
    """The form's controls: defaults when `given` is None, else what was typed (secrets are
    never sent back to the browser)."""
    context = default_context(config, user)
    errors = errors or {}
    out = []
    for param in playbook.spec.get("parameters") or []:
        kind = param.get("type", "text")
        props = param.get("properties") or {}
        if given is None:
            value = default_for(param, context, playbook.namespace)
        else:
            value = given.get(param["name"], "")
        if kind == "secret":
            value = ""
        f = ParamField(name=param["name"], label=param.get("label") or param["name"],
                       type=kind, description=param.get("description") or "",
                       required=bool(param.get("required")) and kind != "checkbox",
                       value=value, error=errors.get(param["name"], ""))
        if kind == "text":
            if props.get("multiline"):
                f.widget = "textarea"
            for spec_key, attr in (("minLength", "minlength"), ("maxLength", "maxlength")):
                if spec_key in props:
                    f.attrs[attr] = str(props[spec_key])
            if props.get("pattern") and not props.get("multiline"):
                f.attrs["pattern"] = str(props["pattern"])
                f.hint = f"must match {props['pattern']}"
        elif kind == "code":
            f.widget = "code"
            f.attrs["data-language"] = str(props.get("language") or "text")
        elif kind == "checkbox":
            f.widget = "checkbox"
        elif kind == "secret":
            f.input_type = "password"
        else:
            choices = _choices(param, user)
            if choices is not None:
                f.widget, f.choices = "select", choices
                f.multiple = kind == "list" and bool(props.get("multiple"))
            elif kind == "people":
                f.input_type = "email"
            elif kind == "config":
                f.hint = "the catalog item's id"
        out.append(f)
    return out


def target(playbook: Playbook, user: Any, raw: str | None) -> Target:
    """The item named by `?config=` (or the form's config field) and the items offered.

    The offer is what the selectors match among the items the person sees; a playbook's CEL
    filters are left to execution.start(), which names the refusal next to the field.
    """
    selectors = playbook.spec.get("configs") or []
    if not selectors:
        return Target(needed=False)
    from catalog.search import SearchError, filter_items

    found = Target(needed=True, typed=(raw or "").strip())
    live = visible_items(user).filter(deleted_at__isnull=True)
    seen: set[Any] = set()
    for selector in selectors:
        try:
            matches = filter_items(live, selector_query(selector), user=user).queryset
        except SearchError:
            continue
        for item in matches.order_by("type", "name").only(
                "id", "name", "type", "namespace")[:MAX_CHOICES]:
            if item.pk not in seen and len(found.choices) < MAX_CHOICES:
                seen.add(item.pk)
                found.choices.append(item)
    if found.typed:
        pk = parse_uuid(found.typed)
        found.item = live.filter(pk=pk).first() if pk else None
        if found.item is None:
            found.error = "no such catalog item, or it is not shared with you"
        elif found.item.pk not in seen:
            found.choices.insert(0, found.item)
    return found
