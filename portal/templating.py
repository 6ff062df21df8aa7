"""User-supplied Jinja2 templates, rendered only here, in an immutable sandbox with capped output.

Scripts, bodies, messages, titles and file contents are written by portal users, so rendering
must not reach Python internals, grow without bound or echo context values in errors.  On top of
``ImmutableSandboxedEnvironment`` (Jinja2 >= 3.1.6 fixes the str.format, format_map and |attr
escapes) this module:

* removes the ``cycler``, ``joiner``, ``namespace`` and ``lipsum`` globals: ``namespace`` is the
  only mutable state a template can carry across loop iterations, which is what a doubling
  bomb needs, and ``lipsum(n)`` is an output bomb;
* caps ``range()`` at ``MAX_RANGE`` items per call and ``MAX_RANGE_TOTAL`` per render;
* checks sizes before ``*``, ``**``, ``%``, ``replace``, ``center``, ``indent``, ``format``,
  ``ljust``/``rjust``/``zfill``/``expandtabs`` and format-spec widths can allocate;
* streams output and stops at ``max_output`` characters.

Nested loops over large context lists that print nothing are not bounded here; callers keep
contexts to the data a run needs and run renders under the task's time limit.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import datetime as dt
import json
import re
import shlex
import traceback
from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.exceptions as jexc
import jinja2.filters as jfilters
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from portal.errors import TemplateError

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT = 256_000
MAX_RANGE = 10_000
MAX_RANGE_TOTAL = 100_000
MAX_EXPONENT_BITS = 4096
MAX_YAML_NODES = 100_000

_SINGLE_EXPRESSION = re.compile(r"\A\{\{(?:(?!\{\{|\}\}|\{%|%\}).)*\}\}\Z", re.DOTALL)
_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_WIDTH = re.compile(r"\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")
_TYPE_NAMES = frozenset({
    "str", "int", "float", "bool", "dict", "list", "tuple", "bytes", "NoneType", "function",
    "method", "builtin_function_or_method", "method-wrapper", "type", "range", "StrictUndefined",
})
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


class _Budget:
    """Per-render allowances; lives in a context variable so renders never share it."""

    __slots__ = ("max_output", "range_left")

    def __init__(self, max_output: int) -> None:
        self.max_output = max_output
        self.range_left = MAX_RANGE_TOTAL


_BUDGET: contextvars.ContextVar[_Budget] = contextvars.ContextVar("template_budget")


def _limit() -> int:
    budget = _BUDGET.get(None)
    return budget.max_output if budget is not None else MAX_OUTPUT


def _too_big(what: str, size: int) -> TemplateError:
    return TemplateError(f"{what} would produce {size:,} characters; the limit is {_limit():,}.")


def _check_size(what: str, size: int) -> None:
    if size > _limit():
        raise _too_big(what, size)


def _check_format_widths(fmt: str, pattern: re.Pattern[str]) -> None:
    for match in pattern.finditer(fmt):
        for group in match.groups():
            if group == "*":
                raise TemplateError("Format widths given as '*' are not allowed in templates.")
            if group and int(group) > _limit():
                raise _too_big("A format width", int(group))


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus size checks on the operators that can allocate."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Refuse operations whose result would exceed the output limit before computing them."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _check_size("Repeating a sequence", len(seq) * max(times, 0))
        elif operator == "**" and isinstance(left, (int, float)) and isinstance(right, int):
            bits = abs(right) * max(abs(int(left)), 1).bit_length()
            if bits > MAX_EXPONENT_BITS:
                raise TemplateError(f"Power too large (about {bits:,} bits).")
        elif operator == "%" and isinstance(left, str):
            _check_format_widths(left, _FORMAT_WIDTH)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Check str methods that pad or expand before they allocate."""
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in ("center", "ljust", "rjust", "zfill") and args:
                if isinstance(args[0], int):
                    _check_size(f"str.{name}()", args[0])
            elif name == "expandtabs":
                size = args[0] if args and isinstance(args[0], int) else 8
                _check_size("str.expandtabs()", len(owner) * max(size, 1))
            elif name == "replace" and len(args) >= 2:
                _check_size("str.replace()", _replaced_size(owner, args[0], args[1]))
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """str.format is wrapped at attribute access, so check its widths there too."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            fmt = value.__self__
            if _NESTED_SPEC.search(fmt):
                raise TemplateError("Nested {} inside a format spec are not allowed in templates.")
            _check_format_widths(fmt, _BRACE_WIDTH)
        return wrapped


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    text, old, new = str(text), str(old), str(new)
    count = text.count(old) if old else len(text) + 1
    return len(text) + count * (len(new) - len(old))


# -- filters -----------------------------------------------------------------------------


def to_yaml(value: Any) -> str:
    """YAML block text without the trailing newline, so it can be piped into indent()."""
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False,
                          allow_unicode=True).rstrip("\n")


def to_json(value: Any, indent: int | None = None) -> str:
    """JSON text; datetimes and other non-JSON values become strings."""
    return json.dumps(value, indent=indent, default=str, ensure_ascii=False)


def from_json(text: str) -> Any:
    """Parse JSON; the error names the position, never the text."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        position = f" at line {exc.lineno}, column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise TemplateError(f"from_json: input is not valid JSON{position}.") from None


def b64encode(value: str | bytes) -> str:
    """Base64 of the UTF-8 text (or the bytes)."""
    raw = value if isinstance(value, bytes) else str(value).encode()
    return base64.b64encode(raw).decode("ascii")


def b64decode(value: str | bytes) -> str:
    """Decode base64 to UTF-8 text; binary payloads are refused rather than mangled."""
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        raise TemplateError("b64decode: input is not base64-encoded UTF-8 text.") from None


def shquote(value: Any) -> str:
    """Quote for a POSIX shell; the safe way to put untrusted text into a script."""
    return shlex.quote(str(value))


def duration(value: Any) -> str:
    """Human duration from a timedelta or seconds: 90 -> '1m30s', 93784 -> '1d2h3m4s'."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        try:
            seconds = float(str(value).removesuffix("s"))
        except ValueError:
            raise TemplateError("duration: expects a timedelta or a number of seconds.") from None
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{sign}{round(seconds * 1000)}ms"
    whole = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, whole = divmod(whole, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + "".join(parts)


def age(value: Any, now: dt.datetime | None = None) -> str:
    """How long ago a datetime or ISO 8601 string was, as a duration() string."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise TemplateError("age: expects a datetime or an ISO 8601 timestamp.") from None
    if not isinstance(value, dt.datetime):
        raise TemplateError("age: expects a datetime or an ISO 8601 timestamp.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return duration((now or dt.datetime.now(dt.UTC)) - value)


@jinja2.pass_eval_context
def _replace(eval_ctx: Any, s: Any, old: str, new: str, count: int | None = None) -> Any:
    _check_size("replace", _replaced_size(s, old, new))
    return jfilters.do_replace(eval_ctx, s, old, new, count)


def _center(value: Any, width: int = 80) -> str:
    _check_size("center", width)
    return jfilters.do_center(value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    pad_len = len(width) if isinstance(width, str) else int(width)
    _check_size("indent", len(str(s)) + (str(s).count("\n") + 1) * pad_len)
    return jfilters.do_indent(s, width, first, blank)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_format_widths(str(value), _FORMAT_WIDTH)
    return jfilters.do_format(value, *args, **kwargs)


@jinja2.pass_environment
def _wordwrap(env: Any, s: str, width: int = 79, break_long_words: bool = True,
              wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    if wrapstring is not None and len(wrapstring) > 16:
        raise TemplateError("wordwrap: wrapstring may be at most 16 characters.")
    if width < 1:
        raise TemplateError("wordwrap: width must be at least 1.")
    return jfilters.do_wordwrap(env, s, width, break_long_words, wrapstring, break_on_hyphens)


def _range(*args: int) -> range:
    result = range(*args)
    budget = _BUDGET.get(None)
    if len(result) > MAX_RANGE:
        raise TemplateError(f"range() of {len(result):,} items; the limit is {MAX_RANGE:,}.")
    if budget is not None:
        budget.range_left -= len(result)
        if budget.range_left < 0:
            raise TemplateError(
                f"Template loops over more than {MAX_RANGE_TOTAL:,} range() items in total."
            )
    return result


def _build_environment() -> _Sandbox:
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    for name in ("cycler", "joiner", "namespace", "lipsum"):
        env.globals.pop(name, None)
    env.globals["range"] = _range
    env.filters.update({
        "to_yaml": to_yaml,
        "to_json": to_json,
        "from_json": from_json,
        "b64encode": b64encode,
        "b64decode": b64decode,
        "shquote": shquote,
        "duration": duration,
        "age": age,
        "replace": _replace,
        "center": _center,
        "indent": _indent,
        "format": _format,
        "wordwrap": _wordwrap,
    })
    return env


_ENV = _build_environment()  # configuration only: holds no per-render state


# -- rendering ---------------------------------------------------------------------------


def render(template: str, context: Mapping[str, Any], *, max_output: int = MAX_OUTPUT) -> str:
    """Render user text in the sandbox; raise TemplateError naming the line on any failure."""
    if not isinstance(template, str):
        raise TemplateError("Template must be text.")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(
            f"Template is {len(template):,} characters long; the limit is {MAX_TEMPLATE_CHARS:,}."
        )
    token = _BUDGET.set(_Budget(max_output))
    try:
        try:
            compiled = _ENV.from_string(template)
        except jexc.TemplateSyntaxError as exc:
            raise TemplateError(f"line {exc.lineno}: {exc.message}") from None
        chunks: list[str] = []
        size = 0
        try:
            for chunk in compiled.generate(dict(context)):
                size += len(chunk)
                if size > max_output:
                    raise TemplateError(
                        f"Template output is longer than the limit of {max_output:,} characters."
                    )
                chunks.append(chunk)
        except Exception as exc:
            raise _mapped(exc, template) from None
        return "".join(chunks)
    finally:
        _BUDGET.reset(token)


def check_syntax(template: str) -> None:
    """Raise TemplateError naming the line when a template cannot even compile (at save time)."""
    if not isinstance(template, str):
        raise TemplateError("Template must be text.")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(
            f"Template is {len(template):,} characters long; the limit is {MAX_TEMPLATE_CHARS:,}."
        )
    try:
        _ENV.parse(template)
    except jexc.TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}") from None


def render_yaml_value(value: Any, context: Mapping[str, Any], *,
                      max_output: int = MAX_OUTPUT) -> Any:
    """Render a YAML scalar; a string that is exactly one {{ ... }} is re-parsed as YAML."""
    if not isinstance(value, str):
        return value
    rendered = render(value, context, max_output=max_output)
    if not _SINGLE_EXPRESSION.match(value.strip()) or rendered.strip() == "":
        return rendered
    try:
        parsed = yaml.safe_load(rendered)
    except yaml.YAMLError:
        return rendered
    _check_nodes(parsed)
    return parsed


def render_tree(obj: Any, context: Mapping[str, Any], *, max_output: int = MAX_OUTPUT) -> Any:
    """Render every string in nested dicts and lists; keys are rendered as plain text."""
    if isinstance(obj, str):
        return render_yaml_value(obj, context, max_output=max_output)
    if isinstance(obj, Mapping):
        return {
            (render(key, context, max_output=max_output) if isinstance(key, str) else key):
            render_tree(item, context, max_output=max_output)
            for key, item in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [render_tree(item, context, max_output=max_output) for item in obj]
    return obj


def _check_nodes(value: Any) -> None:
    """YAML aliases share nodes in memory and explode when serialized; count them expanded."""
    left = MAX_YAML_NODES
    stack = [value]
    while stack:
        item = stack.pop()
        left -= 1
        if left < 0:
            raise TemplateError(f"Rendered YAML has more than {MAX_YAML_NODES:,} nodes.")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_SAFE_MESSAGES = (TemplateError, jexc.UndefinedError, jexc.SecurityError,
                  jexc.TemplateRuntimeError, ZeroDivisionError, OverflowError)


def _mapped(exc: Exception, template: str) -> TemplateError:
    """Name the line; keep messages that describe the template, redact text it did not contain."""
    line = next((frame.lineno for frame in reversed(traceback.extract_tb(exc.__traceback__))
                 if frame.filename == "<template>"), None)
    where = f"line {line}: " if line else ""
    if isinstance(exc, _SAFE_MESSAGES):
        message = str(exc.message if isinstance(exc, jexc.TemplateError) and exc.message
                      else exc)
        message = re.sub(r"^line \d+: ", "", message)

        def redact(match: re.Match[str]) -> str:
            inner = match.group(1) if match.group(1) is not None else match.group(2)
            known = (inner in template or inner in _TYPE_NAMES
                     or inner.removesuffix(" object") in _TYPE_NAMES)
            return match.group(0) if known else "'<value>'"

        return TemplateError(f"{where}{_QUOTED.sub(redact, message)}")
    if isinstance(exc, TypeError) and "no loader" in str(exc):
        return TemplateError(f"{where}templates cannot import, include or extend other templates.")
    return TemplateError(f"{where}{type(exc).__name__} while rendering the template.")
