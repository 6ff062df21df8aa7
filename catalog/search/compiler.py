"""The search AST compiled to one Django queryset: Q objects and JSONB lookups, values bound."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    Func,
    JSONField,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import Expression, OrderBy
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce, Concat, Lower
from django.db.models.lookups import (
    Contains,
    EndsWith,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IEndsWith,
    IsNull,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
    Regex,
    StartsWith,
)

from catalog.access import sees_everything, visible_scrapers
from catalog.models import ConfigChange, ConfigItem, Health, Severity
from catalog.search.related import related_ids
from catalog.search.syntax import (
    And,
    Bare,
    Compare,
    Exists,
    Node,
    Not,
    Or,
    Query,
    Related,
    SearchError,
    SortKey,
    Target,
    Word,
    field_kind,
    parse,
    parse_field,
    print_sort_key,
)

COLUMNS = {"class": "config_class", "external_id": "external_ids"}
ENUMS: dict[str, tuple[str, ...]] = {
    "health": tuple(Health.values),
    "severity": tuple(Severity.values),  # declared low to high, so it also orders
}
ORDERED_ENUMS = {"severity"}
TRUE_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d{1,3})?")
# Guards casts in SQL: only text that looks like a number is ever cast, so no row can fail.
_SQL_NUMBER = r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"
_SQL_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_RELATIVE = re.compile(r"now(?:([+-])(\d{1,9})([smhdwy]))?", re.IGNORECASE)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PROPERTY_PATH = "$[*] ? (@.name == $name)"
_COMPARE = {">": GreaterThan, ">=": GreaterThanOrEqual, "<": LessThan, "<=": LessThanOrEqual}
_KWARG_OPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


class _Key(KeyTransform):
    """`col #> '{k,...}'`: keys always travel as a text[] parameter, even digit-only ones."""

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        lhs, params, keys = self.preprocess_lhs(compiler, connection)
        return f"({lhs} {self.postgres_nested_operator} %s)", (*params, keys)


class _KeyText(KeyTextTransform):
    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple]:
        lhs, params, keys = self.preprocess_lhs(compiler, connection)
        return f"({lhs} {self.postgres_nested_operator} %s)", (*params, keys)


class _JsonPath(Func):
    template = "%(expressions)s::jsonpath"
    output_field = TextField()


@dataclass(frozen=True)
class _Field:
    kind: str
    prefix: str  # "config__" when a change query names an item field
    name: str  # root field name, e.g. "labels"
    keys: tuple[str, ...]  # map key or JSON path below the root
    pos: int

    @property
    def column(self) -> str:
        return self.prefix + COLUMNS.get(self.name, self.name)


@dataclass(frozen=True)
class SearchResult:
    queryset: QuerySet
    query: Query
    limit: int | None
    offset: int
    include_deleted: bool
    order: tuple[str, ...]


def _resolve(path: tuple[str, ...], target: Target, pos: int) -> _Field:
    kind, prefix, rel = field_kind(path, target)
    model = ConfigChange if target == "changes" and not prefix else ConfigItem
    if kind == "number":
        try:
            model._meta.get_field(rel[0])
        except FieldDoesNotExist:
            raise SearchError(f"'{rel[0]}' is not stored yet", pos) from None
    return _Field(kind, prefix, rel[0], rel[1:], pos)


# -- values -------------------------------------------------------------------


def _number(value: Word) -> float | None:
    if not _NUMBER.fullmatch(value.text):
        return None
    number = float(value.text)
    return number if math.isfinite(number) else None


def _require_number(value: Word) -> float:
    number = _number(value)
    if number is None:
        raise SearchError(f"'{value.text}' is not a number", value.pos)
    return number


def _datetime(value: Word, now: datetime) -> tuple[datetime, datetime | None]:
    """(instant, end of day) for a date-only value, else (instant, None)."""
    text = value.text.strip()
    try:
        relative = _RELATIVE.fullmatch(text)
        if relative:
            sign, amount, unit = relative.groups()
            if not sign:
                return now, None
            delta = timedelta(seconds=int(amount) * _UNITS[unit.lower()])
            return (now - delta if sign == "-" else now + delta), None
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise SearchError(
            f"'{value.text}' is not a date; use now-24h, 2024-05-01 or 2024-05-01T10:00:00Z",
            value.pos,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if _DATE_ONLY.fullmatch(text):
        try:
            return moment, moment + timedelta(days=1)
        except OverflowError:
            return moment, None
    return moment, None


def _is_date(text: str) -> bool:
    return bool(_RELATIVE.fullmatch(text) or _DATE_ONLY.match(text))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shape(value: Word) -> tuple[str, str]:
    """('any'|'exact'|'prefix'|'suffix'|'infix', core text) from where the '*'s sit."""
    if not value.wildcard:
        return "exact", value.text
    text = value.text
    core = text.strip("*")
    if not core:
        return "any", ""
    starts, ends = text.startswith("*"), text.endswith("*")
    return ("infix" if starts and ends else "suffix" if starts else "prefix"), core


# -- conditions -------------------------------------------------------------------


def _always(field: _Field) -> Q:
    return Q(**{f"{field.prefix}pk__isnull": False})


def _guarded(condition: Q | Expression, expr: Expression) -> Q:
    """SQL NULL would make NOT(...) drop rows; pin missing keys to false instead."""
    return Q(condition) & Q(IsNull(expr, False))


def _pattern_kwargs(column: str, shape: str, core: str) -> Q:
    lookup = {"prefix": "istartswith", "suffix": "iendswith", "infix": "icontains"}[shape]
    return Q(**{f"{column}__{lookup}": core})


def _pattern_expr(expr: Expression, shape: str, core: str) -> Q:
    lookup = {"prefix": IStartsWith, "suffix": IEndsWith, "infix": IContains}[shape]
    return Q(lookup(expr, core))


def _text_equal(field: _Field, value: Word, column: str | None = None) -> Q:
    column = column or field.column
    shape, core = _shape(value)
    if shape == "any":
        return _always(field)
    if shape == "exact":
        return Q(**{f"{column}__iexact": core})
    return _pattern_kwargs(column, shape, core)


def _name_match(field: _Field, shape: str, core: str) -> Q:
    """Lower(name) with a lowercased LIKE: the trigram and text_pattern_ops indexes apply."""
    expr = Lower(field.column)
    core = core.lower()
    if shape == "any":
        return _always(field)
    if shape == "exact":
        return Q(Exact(expr, core))
    lookup = {"prefix": StartsWith, "suffix": EndsWith, "infix": Contains}[shape]
    return Q(lookup(expr, core))


def _uuid(value: Word) -> uuid.UUID:
    try:
        return uuid.UUID(value.text)
    except ValueError:
        raise SearchError(f"'{value.text}' is not an id (a UUID)", value.pos) from None


def _json_scalar(field: _Field) -> tuple[Expression, Expression]:
    """(jsonb node, its text) for labels.k, config.a.b or properties.name."""
    if field.kind == "props":
        node: Expression = Func(
            F(field.column),
            _JsonPath(Value(_PROPERTY_PATH)),
            Value({"name": field.keys[0]}, output_field=JSONField()),
            function="jsonb_path_query_first",
            output_field=JSONField(),
        )
        text = Coalesce(_KeyText("text", node), _KeyText("value", node))
        return node, text
    parent: Expression = F(field.column)
    for key in field.keys[:-1]:
        parent = _Key(key, parent)
    return _Key(field.keys[-1], parent), _KeyText(field.keys[-1], parent)


def _as_number(text: Expression) -> Expression:
    return Case(
        When(Regex(text, _SQL_NUMBER), then=Cast(text, FloatField())),
        default=None,
        output_field=FloatField(),
    )


def _json_equal(field: _Field, value: Word) -> Q:
    node, text = _json_scalar(field)
    shape, core = _shape(value)
    if shape == "any":
        return Q(IsNull(node, False))
    if shape != "exact":
        return _guarded(_pattern_expr(text, shape, core), text)
    if field.kind == "map":
        # Containment is what the GIN jsonb_path_ops index answers.
        return Q(**{f"{field.column}__contains": {field.keys[0]: core}})
    condition = _guarded(Exact(text, core), text)
    number = _number(value)
    if number is not None:
        numeric = _as_number(text)
        condition |= _guarded(Exact(numeric, number), numeric)
    return condition


def _json_order(field: _Field, op: str, value: Word, now: datetime) -> Q:
    _, text = _json_scalar(field)
    if value.wildcard:
        raise SearchError(f"'*' does not work with {op}", value.pos)
    number = _number(value)
    if number is not None:
        numeric = _as_number(text)
        return _guarded(_COMPARE[op](numeric, number), numeric)
    if not value.quoted and _is_date(value.text):
        try:
            moment, end = _datetime(value, now)
        except SearchError:  # a version like 2024-01-01-rc1 still compares as text
            return _guarded(_COMPARE[op](text, value.text), text)
        bound = end if end is not None and op in (">", "<=") else moment
        stamp = _iso(bound).removesuffix("T00:00:00Z") if end is not None else _iso(bound)
        strict = {">": GreaterThanOrEqual, "<=": LessThan} if end is not None else {}
        lookup = strict.get(op, _COMPARE[op])
        return _guarded(Q(Regex(text, _SQL_ISO_DATE)) & Q(lookup(text, stamp)), text)
    return _guarded(_COMPARE[op](text, value.text), text)


def _datetime_match(field: _Field, op: str, value: Word, now: datetime) -> Q:
    if value.wildcard:
        raise SearchError(f"'*' does not work with dates like {field.name}", value.pos)
    moment, end = _datetime(value, now)
    column = field.column
    if end is None:
        if op == "=":
            return Q(**{column: moment})
        return Q(**{f"{column}__{_KWARG_OPS[op]}": moment})
    # A bare date means the whole day.
    if op == "=":
        return Q(**{f"{column}__gte": moment, f"{column}__lt": end})
    bounds = {">": ("gte", end), ">=": ("gte", moment), "<": ("lt", moment), "<=": ("lt", end)}
    lookup, bound = bounds[op]
    return Q(**{f"{column}__{lookup}": bound})


def _enum_match(field: _Field, op: str, value: Word) -> Q:
    choices = ENUMS[field.name]
    shape, core = _shape(value)
    if op == "=" and shape != "exact":
        return _always(field) if shape == "any" else _pattern_kwargs(field.column, shape, core)
    word = core.lower()
    if word not in choices:
        raise SearchError(
            f"unknown {field.name} '{value.text}'", value.pos, "values: " + ", ".join(choices)
        )
    if op == "=":
        return Q(**{field.column: word})
    if field.name not in ORDERED_ENUMS:
        raise SearchError(f"{field.name} takes = or !=, not {op}", value.pos)
    rank = choices.index(word)
    keep = {
        ">": choices[rank + 1 :],
        ">=": choices[rank:],
        "<": choices[:rank],
        "<=": choices[: rank + 1],
    }[op]
    return Q(**{f"{field.column}__in": keep})


def _scraper_scope(field: _Field, user: Any) -> Q:
    """Only scrapers the user was granted match: an item grant alone must not let its
    scraper's name be probed letter by letter with scraper=a*, scraper=b*..."""
    if field.kind != "scraper" or sees_everything(user):
        return Q()
    return Q(**{f"{field.column}__in": visible_scrapers(user)})


def _ref_match(field: _Field, value: Word, user: Any) -> Q:
    """agent/scraper by id or by name (scraper also as namespace/name)."""
    return _scraper_scope(field, user) & _ref_condition(field, value)


def _ref_condition(field: _Field, value: Word) -> Q:
    try:
        return Q(**{f"{field.column}_id": uuid.UUID(value.text)})
    except ValueError:
        pass
    if field.name == "scraper" and "/" in value.text and not value.wildcard:
        namespace, _, name = value.text.partition("/")
        return Q(
            **{
                f"{field.column}__namespace__iexact": namespace,
                f"{field.column}__name__iexact": name,
            }
        )
    return _text_equal(field, value, column=f"{field.column}__name")


def _external_id_match(field: _Field, value: Word) -> Q:
    shape, core = _shape(value)
    if shape == "exact":
        return Q(**{f"{field.column}__contains": [core]})  # GIN on external_ids
    if shape == "any":
        return ~Q(**{f"{field.column}__len": 0})
    # One line per alias, so ^ and $ of each alias become newlines.
    joined = Concat(
        Value("\n"),
        Func(F(field.column), Value("\n"), function="array_to_string", output_field=TextField()),
        Value("\n"),
        output_field=TextField(),
    )
    needle = {"prefix": "\n" + core, "suffix": core + "\n", "infix": core}[shape]
    return Q(IContains(joined, needle))


def _equal(field: _Field, value: Word, now: datetime, user: Any) -> Q:
    kind = field.kind
    if kind == "name":
        return _name_match(field, *_shape(value))
    if kind == "text":
        return _text_equal(field, value)
    if kind == "type":
        shape, core = _shape(value)
        if shape == "exact" and "::" not in core:
            # type=pod means any provider's Pod.
            return Q(**{f"{field.column}__iexact": core}) | Q(
                **{f"{field.column}__iendswith": "::" + core}
            )
        return _text_equal(field, value)
    if kind == "enum":
        return _enum_match(field, "=", value)
    if kind == "bool":
        word = value.text.lower()
        if word not in TRUE_WORDS or value.wildcard:
            raise SearchError(f"{field.name} is true or false, not '{value.text}'", value.pos)
        return Q(**{field.column: TRUE_WORDS[word]})
    if kind == "uuid":
        shape, core = _shape(value)
        if shape == "exact":
            return Q(**{field.column: _uuid(value)})
        if shape == "any":
            return _always(field)
        return _pattern_expr(Cast(field.column, TextField()), shape, core)
    if kind == "number":
        if value.wildcard:
            raise SearchError(f"'*' does not work with numbers like {field.name}", value.pos)
        return Q(**{field.column: _require_number(value)})
    if kind == "datetime":
        return _datetime_match(field, "=", value, now)
    if kind in ("agent", "scraper"):
        return _ref_match(field, value, user)
    if kind == "array":
        return _external_id_match(field, value)
    return _json_equal(field, value)


def _ordered(field: _Field, op: str, value: Word, now: datetime) -> Q:
    kind = field.kind
    if kind == "datetime":
        return _datetime_match(field, op, value, now)
    if kind == "enum":
        return _enum_match(field, op, value)
    if kind in ("map", "props", "json"):
        return _json_order(field, op, value, now)
    if value.wildcard:
        raise SearchError(f"'*' does not work with {op}", value.pos)
    if kind == "number":
        return Q(**{f"{field.column}__{_KWARG_OPS[op]}": _require_number(value)})
    if kind == "name":
        return Q(_COMPARE[op](Lower(field.column), value.text.lower()))
    if kind in ("text", "type"):
        return Q(**{f"{field.column}__{_KWARG_OPS[op]}": value.text})
    raise SearchError(f"{field.name} takes = or !=, not {op}", value.pos)


def _compare(node: Compare, target: Target, now: datetime, user: Any) -> Q:
    field = _resolve(node.field, target, node.pos)
    if node.op in ("=", "!="):
        condition = Q()
        for value in node.values:
            condition |= _equal(field, value, now, user)
        return ~condition if node.op == "!=" else condition
    return _ordered(field, node.op, node.values[0], now)


def _exists(node: Exists, target: Target) -> Q:
    node_expr, _ = _json_scalar(_resolve(node.field, target, node.pos))
    return Q(IsNull(node_expr, False))


def _bare(node: Bare, target: Target) -> Q:
    """A bare word is a name prefix; for changes, the changed item's name."""
    prefix = "config__" if target == "changes" else ""
    field = _Field("name", prefix, "name", (), node.pos)
    shape, core = _shape(node.value)
    return _name_match(field, "prefix" if shape == "exact" else shape, core)


def compile_node(node: Node, target: Target, now: datetime, user: Any) -> Q:
    """The Q tree for one AST node; AND/OR/NOT map one to one.

    `user` is who asks (None = the system): `related=` walks only what they can see and
    `scraper` matches only scrapers they were granted.
    """
    if isinstance(node, And | Or):
        parts = [compile_node(item, target, now, user) for item in node.items]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if isinstance(node, And) else combined | part
        return combined
    if isinstance(node, Not):
        return ~compile_node(node.item, target, now, user)
    if isinstance(node, Compare):
        return _compare(node, target, now, user)
    if isinstance(node, Exists):
        return _exists(node, target)
    if isinstance(node, Bare):
        return _bare(node, target)
    prefix = "config__" if target == "changes" else ""
    ids = related_ids(node, user)
    return Q(**{f"{prefix}id__in": ids})


# -- ordering, deleted rows and the public entry points ------------------------------


def _sort_expression(field: _Field, user: Any) -> Expression:
    if field.kind in ("map", "props", "json"):
        return _json_scalar(field)[1]
    if field.kind == "scraper" and not sees_everything(user):
        # A scraper the user was not granted sorts and counts as no scraper at all.
        return Case(When(_scraper_scope(field, user), then=F(f"{field.column}__name")),
                    default=None, output_field=TextField())
    if field.kind in ("agent", "scraper"):
        return F(f"{field.column}__name")
    return F(field.column)


def _order_by(keys: tuple[SortKey, ...], target: Target, user: Any) -> list[OrderBy]:
    default = "created_at" if target == "changes" else "updated_at"
    if not keys:
        return [F(default).desc(nulls_last=True), F("id").asc()]
    order = []
    for key in keys:
        expr = _sort_expression(_resolve(key.field, target, key.pos), user)
        order.append(expr.desc(nulls_last=True) if key.descending else expr.asc(nulls_last=True))
    if not any(key.field == ("id",) for key in keys):
        order.append(F("id").asc())
    return order


def _fields(node: Node | None) -> list[tuple[str, ...]]:
    if node is None:
        return []
    if isinstance(node, And | Or):
        return [path for item in node.items for path in _fields(item)]
    if isinstance(node, Not):
        return _fields(node.item)
    if isinstance(node, Compare | Exists | Related):
        return [node.field]
    return []


def mentions_deleted(query: Query) -> bool:
    """Deleted items stay hidden unless the query asks about deletion itself."""
    paths = _fields(query.expr) + [key.field for key in query.order]
    return ("deleted_at",) in paths


def _run(qs: QuerySet, query: Query, target: Target, now: datetime | None,
         user: Any) -> QuerySet:
    now = now or datetime.now(UTC)
    if query.expr is not None:
        qs = qs.filter(compile_node(query.expr, target, now, user))
    return qs.order_by(*_order_by(query.order, target, user))


def filter_items(
    qs: QuerySet[ConfigItem],
    text: str,
    *,
    user: Any,
    now: datetime | None = None,
    include_deleted: bool = False,
) -> SearchResult:
    """Narrow an already-visible item queryset by a search; the caller slices limit/offset.

    `user` is required and is the one `qs` was made visible for (None = the system), so the
    parts of the language that look beyond `qs` (related=, scraper) see no more than it.
    """
    query = parse(text, target="items")
    include_deleted = include_deleted or mentions_deleted(query)
    if not include_deleted:
        qs = qs.filter(deleted_at__isnull=True)
    return SearchResult(
        queryset=_run(qs, query, "items", now, user),
        query=query,
        limit=query.limit,
        offset=query.offset or 0,
        include_deleted=include_deleted,
        order=tuple(print_sort_key(key) for key in query.order),
    )


def filter_changes(
    qs: QuerySet[ConfigChange], text: str, *, user: Any, now: datetime | None = None
) -> SearchResult:
    """The same language over changes; config.<field> reaches the changed item."""
    query = parse(text, target="changes")
    return SearchResult(
        queryset=_run(qs, query, "changes", now, user),
        query=query,
        limit=query.limit,
        offset=query.offset or 0,
        include_deleted=True,
        order=tuple(print_sort_key(key) for key in query.order),
    )


FACETABLE = {"name", "text", "type", "enum", "bool", "map", "props", "json", "agent", "scraper"}


def facets(qs: QuerySet, field: str, limit: int = 20, *, user: Any) -> list[tuple[Any, int]]:
    """Value counts for one field over an already-filtered queryset, most common first.

    `qs` must already be visible to `user`; `user` only decides which scraper names show.
    """
    target: Target = "changes" if qs.model is ConfigChange else "items"
    path = parse_field(field, target=target)
    resolved = _resolve(path, target, 0)
    if resolved.kind not in FACETABLE:
        raise SearchError(f"cannot count by '{field}'", 0)
    rows = (
        qs.order_by()
        .annotate(_facet=_sort_expression(resolved, user))
        .filter(_facet__isnull=False)
        .values("_facet")
        .annotate(_count=Count("pk"))
        .order_by("-_count", "_facet")[:limit]
    )
    return [(row["_facet"], row["_count"]) for row in rows]
