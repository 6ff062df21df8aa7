"""CEL behind one door: compile with type checks and static limits, evaluate with runtime guards.

This is the only module that imports a CEL library (cel-expr-python, Google's C++ engine).
The engine brings its own limits (parser depth 32, about 10,000 comprehension iterations per
evaluation) and we add ours before it runs:

* source at most ``MAX_SOURCE_CHARS`` characters and bracket nesting at most ``MAX_NESTING``;
* identifiers and field names at most ``MAX_IDENTIFIER_CHARS`` characters;
* at most one comprehension (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) nested
  inside another's per-element body;
* ``replace()`` only with literal arguments and a bounded combined growth factor;
* ``map()`` and ``filter()`` may range over at most ``MAX_ACCUMULATED_RANGE`` elements.  The
  engine appends to their result list by copying it, so a 10,000-element ``map`` costs 4-6 s
  while holding the GIL;
* inside a comprehension's per-element body, ``+`` and the allocating string functions are
  charged against ``MAX_WORK_UNITS`` per evaluation (a character costs 1, a list or map entry
  ``_LIST_ELEMENT_UNITS``): unchecked, ``xs.all(x, (xs + xs).size() > 0)`` over 5,000 items
  ran for 25 s;
* activation lists longer than ``MAX_INPUT_LIST`` elements and strings longer than
  ``MAX_INPUT_STRING`` characters are rejected, not truncated, because a truncated list gives
  a confident wrong answer.  5,000 keeps ``xs.all(x, x in xs)`` near 0.25 s.

The last two checks are spliced into the compiled program: when one trips, it records why and
then deliberately overruns the engine's iteration budget, the one failure the engine cannot
absorb (``exists()`` swallows ordinary errors), so evaluation stops at once.

Evaluations slower than ``SLOW_EVALUATION_SECONDS`` are logged to ``flightdeck.expressions``.
Errors never echo activation values, which may hold secrets.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import functools
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext.ext_strings import ExtStrings

from portal.errors import ExpressionError

logger = logging.getLogger("flightdeck.expressions")

MAX_SOURCE_CHARS = 1000
MAX_NESTING = 32
MAX_IDENTIFIER_CHARS = 128
MAX_NESTED_COMPREHENSIONS = 1
MAX_REPLACE_GROWTH = 16
MAX_ACCUMULATED_RANGE = 1000
MAX_INPUT_LIST = 5_000
MAX_INPUT_STRING = 1_048_576
MAX_INPUT_NODES = 200_000
MAX_WORK_UNITS = 16_000_000
SLOW_EVALUATION_SECONDS = 0.050
COMPILE_CACHE_SIZE = 2048

_INT64 = (-(2**63), 2**63 - 1)
_TYPES = {
    "dyn": cel.Type.DYN,
    "bool": cel.Type.BOOL,
    "int": cel.Type.INT,
    "uint": cel.Type.UINT,
    "double": cel.Type.DOUBLE,
    "string": cel.Type.STRING,
    "bytes": cel.Type.BYTES,
    "timestamp": cel.Type.TIMESTAMP,
    "duration": cel.Type.DURATION,
    "null": cel.Type.NULL,
    "map": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
    "list": cel.Type.List(cel.Type.DYN),
}
_LIMIT_FUNCTION = "flightdeck_limit"
_CHARGE_FUNCTION = "flightdeck_charge"
_RANGE_VAR = "@fd_range"
_LIST_ELEMENT_UNITS = 64
# Functions that allocate in proportion to their target; charged when run once per element.
_ALLOCATING_METHODS = frozenset({
    "lowerAscii", "upperAscii", "trim", "replace", "split", "join", "substring", "reverse",
    "format",
})
_ALLOCATING_FUNCTIONS = frozenset({"string", "bytes"})


@dataclass(frozen=True)
class Program:
    """A compiled, checked and guarded expression; rows store ``source``, never this."""

    source: str
    declarations: tuple[tuple[str, str], ...]
    return_type: str
    _expression: Any = field(repr=False, compare=False)

    @property
    def declared(self) -> dict[str, str]:
        """Variable name -> CEL type name, as compiled."""
        return dict(self.declarations)


def compile(source: str, declarations: Mapping[str, str] | None = None) -> Program:
    """Compile and type-check once per (source, declarations); raise ExpressionError if invalid."""
    if not isinstance(source, str):
        raise ExpressionError("Expression must be text.")
    return _compile_cached(source, _freeze(declarations))


def evaluate(program: Program, activation: Mapping[str, Any]) -> Any:
    """Run a compiled program and return plain Python values; raise ExpressionError on failure."""
    declared = program.declared
    data = _activation(activation, declared)
    meter = _Meter()
    token = _METER.set(meter)
    started = time.perf_counter()
    try:
        value = program._expression.eval(data=data)
    except RuntimeError as exc:
        if meter.violation:
            raise ExpressionError(meter.violation) from None
        raise ExpressionError(_runtime_message(str(exc), program.source)) from None
    finally:
        elapsed = time.perf_counter() - started
        _METER.reset(token)
        if elapsed > SLOW_EVALUATION_SECONDS:
            logger.warning(
                "slow CEL evaluation",
                extra={"expression": program.source[:200], "seconds": round(elapsed, 4)},
            )
    if meter.violation:
        raise ExpressionError(meter.violation)
    if value.type() == cel.Type.ERROR:
        raise ExpressionError(_runtime_message(str(value.value()), program.source))
    return _plain(value.plain_value())


def evaluate_source(
    source: str, activation: Mapping[str, Any], declarations: Mapping[str, str] | None = None
) -> Any:
    """Compile through the memo, then evaluate: the one-liner for domain code."""
    if declarations is None:
        declarations = {name: "dyn" for name in activation}
    return evaluate(compile(source, declarations), activation)


def check_bool(source: str, declarations: Mapping[str, str] | None = None) -> Program:
    """For forms' clean(): the expression compiles and can only yield a bool (or dyn)."""
    program = compile(source, declarations)
    if program.return_type not in ("BOOL", "DYN"):
        raise ExpressionError(
            f"Expression must return a bool, but it returns {program.return_type.lower()}."
        )
    return program


def check_returns(
    source: str, allowed: tuple[str, ...], declarations: Mapping[str, str] | None = None
) -> Program:
    """Like check_bool for other result types, e.g. ("STRING",) or ("DURATION", "STRING")."""
    program = compile(source, declarations)
    if program.return_type not in (*allowed, "DYN"):
        wanted = " or ".join(name.lower() for name in allowed)
        raise ExpressionError(
            f"Expression must return {wanted}, but it returns {program.return_type.lower()}."
        )
    return program


# -- compilation -------------------------------------------------------------------------


def _freeze(declarations: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    frozen = tuple(sorted((declarations or {}).items()))
    for name, type_name in frozen:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"Invalid CEL variable name {name!r}")
        _cel_type(type_name)
    return frozen


def _cel_type(type_name: str) -> Any:
    if type_name in _TYPES:
        return _TYPES[type_name]
    try:
        return cel.Type(type_name)
    except Exception as exc:  # the binding raises plain Exception subclasses
        raise ValueError(f"Unknown CEL type {type_name!r}") from exc


_CHARGEABLE = {
    "string": cel.Type.STRING,
    "bytes": cel.Type.BYTES,
    "list": cel.Type.List(cel.Type.DYN),
    "map": cel.Type.Map(cel.Type.DYN, cel.Type.DYN),
    "int": cel.Type.INT,
    "uint": cel.Type.UINT,
    "double": cel.Type.DOUBLE,
    "bool": cel.Type.BOOL,
    "null": cel.Type.NULL,
    "timestamp": cel.Type.TIMESTAMP,
    "duration": cel.Type.DURATION,
}


@functools.lru_cache(maxsize=64)
def _environment(declarations: tuple[tuple[str, str], ...]) -> Any:
    limit = cel.FunctionDecl(_LIMIT_FUNCTION, [cel.Overload(
        f"{_LIMIT_FUNCTION}_string_int", cel.Type.BOOL, [cel.Type.STRING, cel.Type.INT],
        impl=_record_violation,
    )])
    # The runtime dispatches on concrete kinds, so a dyn parameter needs one overload per kind.
    charge = cel.FunctionDecl(_CHARGE_FUNCTION, [
        cel.Overload(f"{_CHARGE_FUNCTION}_{name}", cel.Type.BOOL, [kind], impl=_charge)
        for name, kind in _CHARGEABLE.items()
    ])
    return cel.NewEnv(
        variables={name: _cel_type(type_name) for name, type_name in declarations},
        extensions=[ExtStrings()],
        functions=[limit, charge],
    )


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile_cached(source: str, declarations: tuple[tuple[str, str], ...]) -> Program:
    """The one allowed per-process cache: a bounded memo of a pure function of its key."""
    _check_text(source)
    env = _environment(declarations)
    try:
        checked = env.compile(source)
    except Exception as exc:  # the binding raises RuntimeError; be broad, the text is ours
        raise ExpressionError(_compile_message(str(exc))) from None
    return_type = checked.return_type().name()
    tree = _Tree.load(checked.serialize())
    _check_tree(tree, source)
    tree.add_guards()
    try:
        guarded = env.deserialize(tree.dump())
    except Exception as exc:
        raise ExpressionError(_compile_message(str(exc))) from None
    return Program(source, declarations, return_type, guarded)


def _check_text(source: str) -> None:
    if len(source) > MAX_SOURCE_CHARS:
        raise ExpressionError(
            f"Expression is {len(source)} characters long; the limit is {MAX_SOURCE_CHARS}."
        )
    if not source.strip():
        raise ExpressionError("Expression is empty.")
    depth = deepest = 0
    quote = ""
    escaped = False
    for position, char in enumerate(source):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
            if depth > deepest:
                deepest = depth
            if deepest > MAX_NESTING:
                raise ExpressionError(
                    f"Brackets nest deeper than {MAX_NESTING} levels at {_where(source, position)}."
                )
        elif char in ")]}":
            depth -= 1


def _where(source: str, offset: int) -> str:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


_ENGINE_POSITION = re.compile(r"ERROR: <input>:(-?\d+):(-?\d+): ")


def _compile_message(raw: str) -> str:
    """Engine compile errors describe the source (never data), so keep them, tidied."""
    text = re.sub(r"^[A-Z_]+: ", "", raw.strip())
    text = re.sub(r" \[[A-Z_]+\]$", "", text)
    if "recursion" in text.lower():
        return f"Expression nests deeper than the engine allows ({MAX_NESTING} levels)."
    if "codepoint limit" in text:
        return f"Expression is longer than {MAX_SOURCE_CHARS} characters."
    first = text.split("\nERROR: ")[0].split("\n")[0].replace(" (in container '')", "")
    match = _ENGINE_POSITION.match(first)
    if match and int(match.group(1)) > 0:
        return f"line {match.group(1)}, column {match.group(2)}: {first[match.end():]}"
    return _ENGINE_POSITION.sub("", first)


def _check_tree(tree: _Tree, source: str) -> None:
    for node in tree.nodes():
        kind = node.kind
        if kind == _IDENT and len(node.name) > MAX_IDENTIFIER_CHARS:
            raise ExpressionError(
                f"Identifier at {tree.where(node, source)} is {len(node.name)} characters long;"
                f" the limit is {MAX_IDENTIFIER_CHARS}."
            )
        if kind == _SELECT and len(node.field_name) > MAX_IDENTIFIER_CHARS:
            raise ExpressionError(
                f"Field name at {tree.where(node, source)} is {len(node.field_name)} characters"
                f" long; the limit is {MAX_IDENTIFIER_CHARS}; use m[\"key\"] for long keys."
            )
        if kind == _COMPREHENSION and node.loop_depth > MAX_NESTED_COMPREHENSIONS + 1:
            raise ExpressionError(
                f"At most {MAX_NESTED_COMPREHENSIONS} comprehension (all, exists, exists_one,"
                f" map, filter) may be nested inside another; found deeper nesting at"
                f" {tree.where(node, source)}."
            )
    growth = 1.0
    for node in tree.nodes():
        if node.kind == _CALL and node.function == "replace" and node.has_target:
            args = node.call_args()
            if len(args) < 2 or not all(arg.string_constant is not None for arg in args[:2]):
                raise ExpressionError(
                    f"replace() at {tree.where(node, source)} needs literal strings for what to"
                    " replace and the replacement."
                )
            old, new = args[0].string_constant, args[1].string_constant
            if old == "":
                raise ExpressionError(
                    f"replace() at {tree.where(node, source)} cannot replace the empty string."
                )
            growth *= max(1.0, len(new) / len(old))
    if growth > MAX_REPLACE_GROWTH:
        raise ExpressionError(
            f"replace() calls could grow text {growth:g}-fold; the limit is {MAX_REPLACE_GROWTH}."
        )


# -- evaluation ---------------------------------------------------------------------------

class _Meter:
    """Work charged during one evaluation, and the first limit that tripped."""

    __slots__ = ("spent", "violation")

    def __init__(self) -> None:
        self.spent = 0
        self.violation = ""


_METER: contextvars.ContextVar[_Meter] = contextvars.ContextVar("cel_meter")


def _record_violation(what: str, size: int) -> bool:
    """Called from inside the engine by a spliced range check, just before it aborts."""
    meter = _METER.get(None)
    if meter is not None and not meter.violation:
        meter.violation = (
            f"{what} ranges over {size} elements; the limit is {MAX_ACCUMULATED_RANGE}."
            " Filter with exists()/all() or narrow the input first."
        )
    return True


def _charge(value: Any) -> bool:
    """Called from inside the engine before per-element work that allocates; False aborts."""
    meter = _METER.get(None)
    if meter is None:
        return True
    if isinstance(value, (str, bytes, bytearray)):
        meter.spent += len(value)
    elif isinstance(value, (list, dict)):
        meter.spent += _LIST_ELEMENT_UNITS * len(value)
    else:
        meter.spent += 1
    if meter.spent <= MAX_WORK_UNITS:
        return True
    if not meter.violation:
        meter.violation = (
            "Expression builds too much text or too many lists inside all/exists/map/filter"
            f" (over {MAX_WORK_UNITS:,} units of work); build once outside the loop instead."
        )
    return False


def _activation(activation: Mapping[str, Any], declared: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    budget = [MAX_INPUT_NODES]
    for name, value in activation.items():
        if name not in declared:
            continue
        type_name = declared[name]
        if type_name == "timestamp" and isinstance(value, dt.datetime):
            data[name] = _aware(value)
        elif type_name == "duration" and isinstance(value, dt.timedelta):
            data[name] = value
        else:
            data[name] = _to_cel(value, name, budget)
    return data


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _to_cel(value: Any, path: str, budget: list[int]) -> Any:
    """JSON-like values pass through; nested datetimes become RFC 3339 strings (use timestamp())."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ExpressionError(
            f"Input to the expression has more than {MAX_INPUT_NODES} values; it is too large."
        )
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ExpressionError(f"Input {_short(path)} holds an integer outside 64 bits.")
        return value
    if isinstance(value, str):
        if len(value) > MAX_INPUT_STRING:
            raise ExpressionError(
                f"Input {_short(path)} is a string of {len(value)} characters; the limit is"
                f" {MAX_INPUT_STRING}."
            )
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) > MAX_INPUT_STRING:
            raise ExpressionError(
                f"Input {_short(path)} is {len(raw)} bytes long; the limit is {MAX_INPUT_STRING}."
            )
        return raw
    if isinstance(value, Mapping):
        if len(value) > MAX_INPUT_LIST:
            raise ExpressionError(
                f"Input {_short(path)} is a map of {len(value)} entries; the limit is"
                f" {MAX_INPUT_LIST}."
            )
        converted = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, bool)):
                raise ExpressionError(
                    f"Input {_short(path)} has a {type(key).__name__} key; CEL map keys are"
                    " strings, integers or booleans."
                )
            converted[key] = _to_cel(item, f"{path}.{key}" if isinstance(key, str) else
                                     f"{path}[{key}]", budget)
        return converted
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_INPUT_LIST:
            raise ExpressionError(
                f"Input {_short(path)} is a list of {len(value)} items; the limit is"
                f" {MAX_INPUT_LIST}."
            )
        return [_to_cel(item, f"{path}[{index}]", budget) for index, item in enumerate(value)]
    if isinstance(value, dt.datetime):
        return _aware(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise ExpressionError(
        f"Input {_short(path)} is a {type(value).__name__}, which expressions cannot read."
    )


def _short(path: str) -> str:
    return path if len(path) <= 80 else path[:77] + "..."


def _plain(value: Any) -> Any:
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


_QUOTED = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'")
_SAFE_RUNTIME = (
    ("Iteration budget exceeded", "Expression exceeded the evaluation budget (about 10,000"
     " comprehension steps)."),
    ("divide by zero", "Division by zero."),
    ("modulus by zero", "Modulus by zero."),
    ("invalid regular expression", "Invalid regular expression."),
    ("Index error", "List index out of range."),
    ("index out of range", "List index out of range."),
    ("Non-CEL value type", "Input holds a value type expressions cannot read."),
)


def _runtime_message(raw: str, source: str) -> str:
    """Engine runtime errors may quote data; keep quoted text only if it is in the source."""
    text = re.sub(r"^[A-Z_]+: ", "", raw.strip())
    text = re.sub(r" \[[A-Z_]+\]$", "", text)
    for marker, message in _SAFE_RUNTIME:
        if marker.lower() in text.lower():
            return message
    if text.startswith("Unexpected value type for"):
        return re.sub(r"\s+", " ", text)

    def redact(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if inner and inner in source else "<value>"

    text = _QUOTED.sub(redact, text)
    text = re.sub(r":\s*$", "", text)
    return f"Evaluation failed: {text[:300]}"


# -- the checked syntax tree, read and rewritten at the protobuf wire level ---------------
# Serialized programs are google.protobuf.Any(cel.expr.CheckedExpr); the field numbers below
# are from cel/expr/syntax.proto and checked.proto, which are stable public API.

_CONST, _IDENT, _SELECT, _CALL, _LIST, _STRUCT, _COMPREHENSION = 3, 4, 5, 6, 7, 8, 9
_LOOP_FIELDS = (5, 6)  # loop_condition, loop_step run once per element
# Which fields of each kind hold child expressions (structs are handled per entry).
_CHILD_FIELDS = {_SELECT: (1,), _CALL: (1, 3), _LIST: (1,), _COMPREHENSION: (2, 4, 5, 6, 7)}


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _decode(buf: bytes) -> list[tuple[int, int, Any]]:
    fields = []
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 2:
            length, i = _read_varint(buf, i)
            value, i = bytes(buf[i:i + length]), i + length
        elif wire == 1:
            value, i = bytes(buf[i:i + 8]), i + 8
        elif wire == 5:
            value, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ExpressionError("Compiled expression has an unexpected shape.")
        fields.append((number, wire, value))
    return fields


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _encode(fields: list[tuple[int, int, Any]]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _varint((number << 3) | wire)
        if wire == 0:
            out += _varint(value)
        elif wire == 2:
            out += _varint(len(value)) + value
        else:
            out += value
    return bytes(out)


@dataclass
class _Node:
    """One Expr message, decoded far enough to analyse and rewrite it."""

    fields: list[tuple[int, int, Any]]
    loop_depth: int = 0

    @property
    def id(self) -> int:
        return next((v for n, w, v in self.fields if n == 2 and w == 0), 0)

    @property
    def kind(self) -> int:
        return next((n for n, w, _ in self.fields if n >= 3 and w == 2), 0)

    @property
    def body(self) -> list[tuple[int, int, Any]]:
        return next((_decode(v) for n, w, v in self.fields if n >= 3 and w == 2), [])

    @property
    def name(self) -> str:
        return next((v.decode() for n, _, v in self.body if n == 1), "")

    @property
    def field_name(self) -> str:
        return next((v.decode() for n, _, v in self.body if n == 2), "")

    @property
    def function(self) -> str:
        return next((v.decode() for n, _, v in self.body if n == 2), "")

    @property
    def has_target(self) -> bool:
        return any(n == 1 for n, _, _ in self.body)

    def call_args(self) -> list[_Node]:
        return [_Node(_decode(v)) for n, _, v in self.body if n == 3]

    @property
    def string_constant(self) -> str | None:
        if self.kind != _CONST:
            return None
        return next((v.decode() for n, w, v in self.body if n == 6 and w == 2), None)

    def children(self) -> Iterator[tuple[int, bytes, bool]]:
        """(field number in body, child Expr bytes, evaluated once per element?)."""
        kind = self.kind
        for number, wire, value in self.body:
            if wire != 2:
                continue
            if kind == _STRUCT and number == 2:
                for entry_number, _, entry_value in _decode(value):
                    if entry_number in (3, 4):
                        yield -1, entry_value, False
            elif number in _CHILD_FIELDS.get(kind, ()):
                yield number, value, kind == _COMPREHENSION and number in _LOOP_FIELDS


class _Tree:
    """A CheckedExpr whose root expression can be walked and rewritten."""

    def __init__(self, wrapper: list, checked: list, root: bytes) -> None:
        self.wrapper, self.checked, self.root = wrapper, checked, root
        self.positions: dict[int, int] = {}
        for number, _, value in checked:
            if number == 5:  # source_info
                for info_number, _, info_value in _decode(value):
                    if info_number == 4:  # positions map<int64, int32>
                        entry = dict((n, v) for n, _, v in _decode(info_value))
                        self.positions[entry.get(1, 0)] = entry.get(2, 0)
        self._next_id = 1 << 40

    @classmethod
    def load(cls, serialized: bytes) -> _Tree:
        wrapper = _decode(serialized)
        checked = _decode(next(v for n, _, v in wrapper if n == 2))
        root = next(v for n, _, v in checked if n == 4)
        return cls(wrapper, checked, root)

    def dump(self) -> bytes:
        checked = [(n, w, self.root if n == 4 else v) for n, w, v in self.checked]
        return _encode([(n, w, _encode(checked) if n == 2 else v) for n, w, v in self.wrapper])

    def nodes(self) -> Iterator[_Node]:
        stack = [(self.root, 0)]
        while stack:
            buf, depth = stack.pop()
            node = _Node(_decode(buf))
            if node.kind == _COMPREHENSION:
                depth += 1
            node.loop_depth = depth
            yield node
            outer = depth - 1 if node.kind == _COMPREHENSION else depth
            for _, child, per_element in node.children():
                stack.append((child, depth if per_element else outer))

    def where(self, node: _Node, source: str) -> str:
        offset = self.positions.get(node.id)
        return _where(source, offset) if offset is not None else "an unknown position"

    # rewriting

    def add_guards(self) -> None:
        self.root = self._rewrite(self.root, in_loop=False)

    def _rewrite(self, buf: bytes, in_loop: bool) -> bytes:
        node = _Node(_decode(buf))
        kind = node.kind
        if kind not in (_SELECT, _CALL, _LIST, _STRUCT, _COMPREHENSION):
            return buf
        body = node.body
        accumulates = kind == _COMPREHENSION and any(
            n == 4 and _Node(_decode(v)).kind == _LIST for n, _, v in body
        )
        new_body = []
        for number, wire, value in body:
            if wire == 2 and kind == _STRUCT and number == 2:
                value = _encode([(n, w, self._rewrite(v, in_loop) if n in (3, 4) else v)
                                 for n, w, v in _decode(value)])
            elif wire == 2 and number in _CHILD_FIELDS.get(kind, ()):
                per_element = kind == _COMPREHENSION and number in _LOOP_FIELDS
                value = self._rewrite(value, in_loop or per_element)
                if accumulates and number == 2:
                    value = self._bounded_range(value)
            new_body.append((number, wire, value))
        if in_loop and kind == _CALL:
            return self._charged_call(node.id, new_body)
        return _encode([(n, w, _encode(new_body) if n == kind else v) for n, w, v in node.fields])

    def _charged_call(self, node_id: int, body: list[tuple[int, int, Any]]) -> bytes:
        """Bind the operands, charge them, and only then run the call."""
        function = next(v.decode() for n, _, v in body if n == 2)
        target = next((v for n, _, v in body if n == 1), None)
        args = [v for n, _, v in body if n == 3]
        if function == "_+_" and target is None and len(args) == 2:
            if _Node(_decode(args[0])).name == "@result":  # the macro's own accumulator
                return self._call_with_id(node_id, body)
            charged = [0, 1]
        elif target is not None and function in _ALLOCATING_METHODS:
            charged = [-1]
        elif target is None and function in _ALLOCATING_FUNCTIONS and len(args) == 1:
            charged = [0]
        else:
            return self._call_with_id(node_id, body)
        names = {index: f"@fd_v{self._id()}" for index in charged}
        values = {index: target if index == -1 else args[index] for index in charged}
        call = [(n, w, v) for n, w, v in body if n == 2]
        if target is not None:
            call.append((1, 2, self._ident(names[-1]) if -1 in names else target))
        call += [(3, 2, self._ident(names[i]) if i in names else a) for i, a in enumerate(args)]
        condition = self._call(_CHARGE_FUNCTION, self._ident(names[charged[0]]))
        for index in charged[1:]:
            condition = self._call("_&&_", condition,
                                   self._call(_CHARGE_FUNCTION, self._ident(names[index])))
        result = self._call("_?_:_", condition, self._call_with_id(node_id, call),
                            self._exhaust())
        for index in reversed(charged):
            result = self._bind(names[index], values[index], result)
        return result

    def _call_with_id(self, node_id: int, body: list[tuple[int, int, Any]]) -> bytes:
        return _encode([(2, 0, node_id), (_CALL, 2, _encode(body))])

    def _bind(self, name: str, value: bytes, result: bytes) -> bytes:
        """cel.bind(name, value, result) spelled out: a comprehension over an empty list."""
        return self._comprehension("#unused", self._expr(_LIST, []), name, value,
                                   self._bool(False), self._ident(name), result)

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _expr(self, kind: int, body: list) -> bytes:
        return _encode([(2, 0, self._id()), (kind, 2, _encode(body))])

    def _ident(self, name: str) -> bytes:
        return self._expr(_IDENT, [(1, 2, name.encode())])

    def _call(self, function: str, *args: bytes) -> bytes:
        return self._expr(_CALL, [(2, 2, function.encode())] + [(3, 2, a) for a in args])

    def _int(self, value: int) -> bytes:
        return self._expr(_CONST, [(3, 0, value)])

    def _str(self, value: str) -> bytes:
        return self._expr(_CONST, [(6, 2, value.encode())])

    def _bool(self, value: bool) -> bytes:
        return self._expr(_CONST, [(2, 0, int(value))])

    def _comprehension(self, iter_var: str, iter_range: bytes, accu_var: str, init: bytes,
                       condition: bytes, step: bytes, result: bytes) -> bytes:
        return self._expr(_COMPREHENSION, [
            (1, 2, iter_var.encode()), (2, 2, iter_range), (3, 2, accu_var.encode()),
            (4, 2, init), (5, 2, condition), (6, 2, step), (7, 2, result),
        ])

    def _bounded_range(self, iter_range: bytes) -> bytes:
        """bind(r, range, size(r) <= N ? r : (record(size(r)) ? exhaust : exhaust))."""
        size = lambda: self._call("size", self._ident(_RANGE_VAR))  # noqa: E731
        over = self._call(
            "_?_:_",
            self._call(_LIMIT_FUNCTION, self._str("map() or filter()"), size()),
            self._exhaust(),
            self._exhaust(),
        )
        checked = self._call(
            "_?_:_",
            self._call("_<=_", size(), self._int(MAX_ACCUMULATED_RANGE)),
            self._ident(_RANGE_VAR),
            over,
        )
        return self._bind(_RANGE_VAR, iter_range, checked)

    def _exhaust(self) -> bytes:
        """A 110 x 110 loop: overruns the engine's iteration budget, which aborts evaluation."""
        def span() -> bytes:
            return self._expr(_LIST, [(1, 2, self._int(i)) for i in range(110)])

        inner = self._comprehension("@fd_j", span(), "@fd_c", self._bool(True), self._bool(True),
                                    self._bool(True), self._ident("@fd_c"))
        return self._comprehension("@fd_i", span(), "@fd_b", self._bool(True), self._bool(True),
                                   inner, self._ident("@fd_b"))
