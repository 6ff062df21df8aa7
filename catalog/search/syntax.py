"""The search language's text side: parse to an AST and print it back, with no database."""

from __future__ import annotations

import difflib
import re
import uuid
from dataclasses import dataclass, field
from typing import Literal

from portal.errors import FlightdeckError

Target = Literal["items", "changes"]

# Field name -> kind; the compiler maps each kind to lookups. Order is the order shown in errors.
ITEM_FIELDS: dict[str, str] = {
    "id": "uuid",
    "name": "name",
    "namespace": "text",
    "type": "type",
    "class": "text",
    "status": "text",
    "health": "enum",
    "ready": "bool",
    "source": "text",
    "agent": "agent",
    "scraper": "scraper",
    "external_id": "array",
    "labels": "map",
    "tags": "map",
    "properties": "props",
    "config": "json",
    "cost_total_1d": "number",
    "cost_total_7d": "number",
    "cost_total_30d": "number",
    "created_at": "datetime",
    "updated_at": "datetime",
    "deleted_at": "datetime",
    "related": "related",
}
CHANGE_FIELDS: dict[str, str] = {
    "id": "uuid",
    "change_type": "text",
    "severity": "enum",
    "source": "text",
    "summary": "text",
    "count": "number",
    "created_at": "datetime",
    "first_observed": "datetime",
    "details": "json",
    "config": "item",
}
ALIASES = {"created": "created_at", "updated": "updated_at", "deleted": "deleted_at"}
# Kinds addressed as root.key, where the key is everything after the first dot.
FLAT_KEYED = {"map", "props"}
KEYED = FLAT_KEYED | {"json", "item"}

OPS = ("!=", ">=", "<=", "=", ">", "<")
DIRECTIONS = ("all", "incoming", "outgoing")
KINDS = ("both", "hard", "soft")
RELATED_DEFAULTS = {"direction": "all", "depth": 5, "kind": "both"}
MAX_DEPTH = 10
MAX_LIMIT = 10_000
MAX_OFFSET = 1_000_000_000
MAX_LENGTH = 4_000
MAX_NESTING = 32

QUOTES = "\"'"
# Characters that end an unquoted value or bare word; heads also stop at operators.
_VALUE_STOP = frozenset("()|,\"'")
_HEAD_STOP = _VALUE_STOP | frozenset("=!<>")
_BARE_SEGMENT = re.compile(r"[^\s()|,\"'=!<>.]+")
_UNQUOTED_VALUE = re.compile(r"[^\s()|,\"'=!<>][^\s()|,\"']*")
_INT = re.compile(r"\d{1,12}")


class SearchError(FlightdeckError):
    """A query the user can fix: says what is wrong and at which character."""

    def __init__(self, what: str, position: int, hint: str = "") -> None:
        self.what = what
        self.position = position
        self.hint = hint
        message = f"{what} at position {position}"
        super().__init__(f"{message}; {hint}" if hint else message)


@dataclass(frozen=True)
class Word:
    text: str
    quoted: bool = False
    pos: int = field(default=0, compare=False)

    @property
    def wildcard(self) -> bool:
        return not self.quoted and "*" in self.text


@dataclass(frozen=True)
class Compare:
    field: tuple[str, ...]
    op: str
    values: tuple[Word, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Exists:
    field: tuple[str, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Bare:
    value: Word
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Related:
    field: tuple[str, ...]
    target: str
    direction: str = "all"
    depth: int = 5
    kind: str = "both"
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    item: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Compare | Exists | Bare | Related | Not | And | Or


@dataclass(frozen=True)
class SortKey:
    field: tuple[str, ...]
    descending: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Query:
    expr: Node | None = None
    order: tuple[SortKey, ...] = ()
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class _Directive:
    name: str
    pos: int
    order: tuple[SortKey, ...] = ()
    number: int = 0


def conjoin(items: list[Node] | tuple[Node, ...]) -> Node:
    """Flatten nested ANDs so one meaning has one tree (and one printed form)."""
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, And) else (item,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def disjoin(items: list[Node] | tuple[Node, ...]) -> Node:
    """Flatten nested ORs, for the same reason as conjoin."""
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, Or) else (item,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def fields_for(target: Target) -> dict[str, str]:
    return ITEM_FIELDS if target == "items" else CHANGE_FIELDS


def field_listing(target: Target) -> str:
    """The names shown when a field is unknown: enough to fix the query without docs."""
    names = []
    for name, kind in fields_for(target).items():
        if kind == "item":
            names.append("config.<item field>")
        elif kind in KEYED:
            names.append(f"{name}.*")
        else:
            names.append(name)
    return "fields: " + ", ".join(names)


def field_kind(path: tuple[str, ...], target: Target) -> tuple[str, str, tuple[str, ...]]:
    """(kind, item-relation prefix, path relative to that model) for a resolved field path."""
    if target == "changes" and path[0] == "config":
        return field_kind(path[1:], "items")[0], "config__", path[1:]
    return fields_for(target)[path[0]], "", path


def resolve_field(segments: list[tuple[str, int]], target: Target) -> tuple[str, ...]:
    """Turn typed segments into the canonical field path, or say which part is wrong."""
    fields = fields_for(target)
    root, pos = segments[0]
    name = ALIASES.get(root.lower(), root.lower())
    if name not in fields:
        aliases = [alias for alias, real in ALIASES.items() if real in fields]
        close = difflib.get_close_matches(name, [*fields, *aliases], n=1)
        hint = field_listing(target)
        if close:
            hint = f"did you mean '{close[0]}'? {hint}"
        raise SearchError(f"unknown field '{root}'", pos, hint)
    kind = fields[name]
    rest = segments[1:]
    if kind == "item":
        if not rest:
            raise SearchError("'config' needs an item field, like config.type", pos)
        return ("config", *resolve_field(rest, "items"))
    if kind in KEYED:
        if not rest:
            example = "config.spec.replicas" if kind == "json" else f"{name}.app"
            raise SearchError(f"'{name}' needs a key, like {example}", pos)
        if kind in FLAT_KEYED:
            return (name, ".".join(text for text, _ in rest))
        return (name, *(text for text, _ in rest))
    if rest:
        raise SearchError(f"'{name}' has no sub-fields", rest[0][1])
    return (name,)


def check_wildcards(text: str, pos: int) -> None:
    """'*' works only at the ends, which is what LIKE prefix/suffix/infix indexes serve."""
    inner = text.strip("*")
    star = inner.find("*")
    if star >= 0:
        offset = len(text) - len(text.lstrip("*"))
        raise SearchError("'*' may appear only at the start or end of a value", pos + offset + star)


class _Parser:
    def __init__(self, text: str, target: Target) -> None:
        self.text = text
        self.target = target
        self.pos = 0
        self.depth = 0

    # -- characters --------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_ws(self) -> None:
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def unexpected(self) -> SearchError:
        if self.at_end():
            return SearchError("unexpected end of query", self.pos)
        return SearchError(f"unexpected '{self.peek()}'", self.pos)

    def read_quoted(self) -> str:
        quote, start = self.peek(), self.pos
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == quote:
                self.pos += 1
                return "".join(out)
            else:
                out.append(char)
                self.pos += 1
        raise SearchError(f"unterminated {quote} quote", start)

    def read_run(self, stop: frozenset[str]) -> str:
        start = self.pos
        while not self.at_end():
            char = self.text[self.pos]
            if char in stop or char.isspace():
                break
            self.pos += 1
        return self.text[start : self.pos]

    # -- grammar -----------------------------------------------------------
    def parse(self) -> Query:
        if len(self.text) > MAX_LENGTH:
            raise SearchError(f"query longer than {MAX_LENGTH} characters", MAX_LENGTH)
        items = self.and_items(nested=False)
        if not self.at_end():
            raise self.unexpected()
        query: dict[str, object] = {}
        exprs: list[Node] = []
        for item in items:
            if isinstance(item, _Directive):
                if item.name in query:
                    raise SearchError(f"'{item.name}' given twice", item.pos)
                query[item.name] = item.order if item.name == "order" else item.number
            else:
                exprs.append(item)
        return Query(
            expr=conjoin(exprs) if exprs else None,
            order=query.get("order", ()),  # type: ignore[arg-type]
            limit=query.get("limit"),  # type: ignore[arg-type]
            offset=query.get("offset"),  # type: ignore[arg-type]
        )

    def and_items(self, nested: bool) -> list[Node | _Directive]:
        items: list[Node | _Directive] = []
        while True:
            self.skip_ws()
            if self.at_end() or (nested and self.peek() == ")"):
                return items
            item = self.or_expr()
            if isinstance(item, _Directive) and nested:
                raise SearchError(f"'{item.name}' belongs at the top level", item.pos)
            items.append(item)
            if not self.at_end() and not self.peek().isspace() and self.peek() != ")":
                raise SearchError(f"expected a space before '{self.peek()}'", self.pos)

    def or_expr(self) -> Node | _Directive:
        first = self.unary()
        items = [first]
        while True:
            mark = self.pos
            self.skip_ws()
            if self.peek() != "|":
                self.pos = mark
                break
            bar = self.pos
            self.pos += 1
            self.skip_ws()
            item = self.unary()
            for part in (first, item):
                if isinstance(part, _Directive):
                    raise SearchError(f"'{part.name}' cannot be part of '|'", bar)
            items.append(item)
        return first if len(items) == 1 else disjoin(items)  # type: ignore[arg-type]

    def unary(self) -> Node | _Directive:
        start = self.pos
        if self.peek() in ("!", "-"):
            self.pos += 1
            if self.at_end() or self.peek().isspace():
                raise SearchError(f"expected a term after '{self.text[start]}'", self.pos)
            if self.peek() in ("!", "-"):
                raise SearchError("negation twice; use parentheses: !(!x)", self.pos)
            item = self.primary()
            if isinstance(item, _Directive):
                raise SearchError(f"'{item.name}' cannot be negated", start)
            return Not(item, pos=start)
        return self.primary()

    def primary(self) -> Node | _Directive:
        if self.peek() != "(":
            return self.term()
        start = self.pos
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise SearchError("parentheses nested too deeply", start)
        self.pos += 1
        items = self.and_items(nested=True)
        if self.peek() != ")":
            raise SearchError("missing ')' for the '(' opened", start)
        if not items:
            raise SearchError("empty parentheses", start)
        self.pos += 1
        self.depth -= 1
        return conjoin(items)  # type: ignore[arg-type]

    def read_head(self) -> list[tuple[str, bool, int]]:
        """A field or bare word: unquoted runs and quoted pieces, up to a space or operator."""
        pieces: list[tuple[str, bool, int]] = []
        while not self.at_end():
            char, pos = self.peek(), self.pos
            if char in QUOTES:
                pieces.append((self.read_quoted(), True, pos))
            elif char in _HEAD_STOP or char.isspace():
                break
            else:
                pieces.append((self.read_run(_HEAD_STOP), False, pos))
        return pieces

    def segments(self, pieces: list[tuple[str, bool, int]]) -> list[tuple[str, int]]:
        """Split a head on dots; quoted pieces are whole segments and may contain dots."""
        segments: list[tuple[str, int]] = []
        expect_segment = True
        for text, quoted, pos in pieces:
            if not quoted:
                offset = 0
                for i, part in enumerate(text.split(".")):
                    if i:
                        if expect_segment:
                            raise SearchError("expected a name before '.'", pos + offset - 1)
                        expect_segment = True
                    if part:
                        if not expect_segment:
                            raise SearchError("expected '.' between field parts", pos + offset)
                        segments.append((part, pos + offset))
                        expect_segment = False
                    offset += len(part) + 1
                continue
            if not expect_segment:
                raise SearchError("expected '.' between field parts", pos)
            segments.append((text, pos))
            expect_segment = False
        if expect_segment:
            end = pieces[-1][2] + len(pieces[-1][0]) if pieces else self.pos
            raise SearchError("expected a name after '.'", end)
        return segments

    def term(self) -> Node | _Directive:
        start = self.pos
        pieces = self.read_head()
        if not pieces:
            if self.peek() in ("=", "<", ">") or self.text.startswith("!=", self.pos):
                raise SearchError(f"expected a field before '{self.peek()}'", self.pos)
            raise self.unexpected()
        op = self.read_op()
        if op is None:
            return self.bare_or_exists(pieces, start)
        first = pieces[0][0].lower()
        if len(pieces) == 1 and not pieces[0][1] and first in ("@order", "limit", "offset"):
            return self.directive(first, op, start)
        if first.startswith("@"):
            raise SearchError(
                f"unknown directive '{pieces[0][0]}'", start, "directives: @order, limit, offset"
            )
        path = resolve_field(self.segments(pieces), self.target)
        if field_kind(path, self.target)[0] == "related":
            return self.related(path, op, start)
        values = [self.value(op)]
        while self.peek() == ",":
            if op not in ("=", "!="):
                raise SearchError(f"a list of values works only with = and !=, not {op}", self.pos)
            self.pos += 1
            values.append(self.value(op))
        return Compare(path, op, tuple(values), pos=start)

    def read_op(self) -> str | None:
        for op in OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        if self.peek() == "!":
            raise SearchError("expected '!=' or a space", self.pos)
        return None

    def bare_or_exists(self, pieces: list[tuple[str, bool, int]], start: int) -> Node:
        if len(pieces) == 1 and pieces[0][1]:
            return Bare(Word(pieces[0][0], True, start), pos=start)
        root = pieces[0][0].split(".", 1)[0].lower()
        kinds = fields_for(self.target)
        is_path = any(p[1] for p in pieces) or "." in pieces[0][0]
        if is_path and not pieces[0][1] and kinds.get(root) in KEYED:
            path = resolve_field(self.segments(pieces), self.target)
            kind, _, _ = field_kind(path, self.target)
            if kind not in KEYED:
                raise SearchError(
                    f"'{'.'.join(path)}' needs a comparison, like {'.'.join(path)}=value", start
                )
            return Exists(path, pos=start)
        if len(pieces) > 1:
            quote = next(p for p in pieces if p[1])
            raise SearchError("unexpected quote inside a word", quote[2])
        text = pieces[0][0]
        check_wildcards(text, start)
        return Bare(Word(text, False, start), pos=start)

    def value(self, op: str) -> Word:
        start = self.pos
        if self.peek() and self.peek() in QUOTES:
            return Word(self.read_quoted(), True, start)
        if self.peek() and self.peek() in "=<>!":
            raise SearchError(f"unexpected '{self.peek()}' after '{op}'", self.pos)
        text = self.read_run(_VALUE_STOP)
        if not text:
            raise SearchError(f"missing value after '{op}'", start)
        check_wildcards(text, start)
        return Word(text, False, start)

    def integer(self, what: str, maximum: int) -> int:
        start = self.pos
        text = self.read_run(_VALUE_STOP)
        if not _INT.fullmatch(text):
            raise SearchError(f"{what} needs a whole number", start)
        number = int(text)
        if number > maximum:
            raise SearchError(f"{what} is at most {maximum}", start)
        return number

    def directive(self, name: str, op: str, start: int) -> _Directive:
        if op != "=":
            raise SearchError(f"'{name}' takes '=', not '{op}'", start)
        if name == "limit":
            return _Directive("limit", start, number=self.integer("limit", MAX_LIMIT))
        if name == "offset":
            return _Directive("offset", start, number=self.integer("offset", MAX_OFFSET))
        keys: list[SortKey] = []
        while True:
            key_start = self.pos
            descending = self.peek() == "-"
            if descending:
                self.pos += 1
            pieces = self.read_head()
            if not pieces:
                raise SearchError("expected a field to order by", self.pos)
            path = resolve_field(self.segments(pieces), self.target)
            if field_kind(path, self.target)[0] == "related":
                raise SearchError("cannot order by 'related'", key_start)
            keys.append(SortKey(path, descending, pos=key_start))
            if self.peek() != ",":
                return _Directive("order", start, order=tuple(keys))
            self.pos += 1

    def related(self, path: tuple[str, ...], op: str, start: int) -> Related:
        if op != "=":
            raise SearchError(f"'related' takes '=', not '{op}'", start)
        value = self.value(op)
        try:
            target = str(uuid.UUID(value.text))
        except ValueError:
            raise SearchError("related needs an item id (a UUID)", value.pos) from None
        options: dict[str, object] = {}
        while self.peek() == ",":
            self.pos += 1
            key_pos = self.pos
            key = self.read_run(_HEAD_STOP).lower()
            if key not in RELATED_DEFAULTS:
                raise SearchError(
                    f"unknown related option '{key}'", key_pos, "options: direction, depth, kind"
                )
            if key in options:
                raise SearchError(f"'{key}' given twice", key_pos)
            if self.peek() != "=":
                raise SearchError(f"expected '=' after '{key}'", self.pos)
            self.pos += 1
            if key == "depth":
                value_pos = self.pos
                options[key] = self.integer("depth", MAX_DEPTH)
                if options[key] == 0:
                    raise SearchError("depth is at least 1", value_pos)
                continue
            value_pos = self.pos
            choice = self.read_run(_VALUE_STOP).lower()
            allowed = DIRECTIONS if key == "direction" else KINDS
            if choice not in allowed:
                raise SearchError(f"{key} must be one of {', '.join(allowed)}", value_pos)
            options[key] = choice
        return Related(path, target, pos=start, **{**RELATED_DEFAULTS, **options})  # type: ignore[arg-type]


def parse_field(text: str, *, target: Target = "items") -> tuple[str, ...]:
    """A lone field name (facets, sort pickers), resolved the same way queries resolve it."""
    parser = _Parser(text, target)
    pieces = parser.read_head()
    if not pieces or not parser.at_end():
        raise SearchError(f"'{text}' is not a field", parser.pos, field_listing(target))
    return resolve_field(parser.segments(pieces), target)


def parse(text: str, *, target: Target = "items") -> Query:
    """Parse once into an AST so errors carry positions and the compiler never sees text."""
    return _Parser(text, target).parse()


# -- printing ---------------------------------------------------------------


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _segment(text: str) -> str:
    return text if _BARE_SEGMENT.fullmatch(text) else quote(text)


def print_field(path: tuple[str, ...]) -> str:
    if path[0] in ("labels", "tags", "properties") and len(path) == 2:
        # Flat keys: the parser joins every segment after the root, so dots may stay bare.
        key = path[1]
        bare = all(_BARE_SEGMENT.fullmatch(part) for part in key.split("."))
        return f"{path[0]}.{key if bare else quote(key)}"
    return ".".join(_segment(part) for part in path)


def print_value(value: Word) -> str:
    return quote(value.text) if value.quoted else value.text


def _print_node(node: Node) -> str:
    if isinstance(node, And):
        return " ".join(_print_node(item) for item in node.items)
    if isinstance(node, Or):
        return " | ".join(
            f"({_print_node(item)})" if isinstance(item, And) else _print_node(item)
            for item in node.items
        )
    if isinstance(node, Not):
        inner = _print_node(node.item)
        return f"!({inner})" if isinstance(node.item, And | Or | Not) else f"!{inner}"
    if isinstance(node, Compare):
        values = ",".join(print_value(v) for v in node.values)
        return f"{print_field(node.field)}{node.op}{values}"
    if isinstance(node, Exists):
        return print_field(node.field)
    if isinstance(node, Bare):
        return print_value(node.value)
    options = "".join(
        f",{key}={getattr(node, key)}"
        for key, default in RELATED_DEFAULTS.items()
        if getattr(node, key) != default
    )
    return f"{print_field(node.field)}={node.target}{options}"


def print_sort_key(key: SortKey) -> str:
    return ("-" if key.descending else "") + print_field(key.field)


def print_query(query: Query) -> str:
    """Canonical text: saved searches and URLs show one spelling for one meaning."""
    parts = [_print_node(query.expr)] if query.expr is not None else []
    if query.order:
        parts.append("@order=" + ",".join(print_sort_key(k) for k in query.order))
    if query.limit is not None:
        parts.append(f"limit={query.limit}")
    if query.offset is not None:
        parts.append(f"offset={query.offset}")
    return " ".join(parts)
