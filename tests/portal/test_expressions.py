"""CEL through portal/expressions.py: normal use, compile-time rejection, hostile payloads."""

import datetime as dt
import logging
import time

import pytest

from portal import expressions
from portal.errors import ExpressionError

NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
SECRET = "hunter2-canary"
CONFIG = {
    "name": "web",
    "labels": {"app": "web", "tier": "frontend"},
    "spec": {"replicas": 3, "containers": [{"name": "app"}, {"name": "sidecar"}]},
    "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    "created": "2025-01-01T00:00:00Z",
}


def run(source, activation=None, declarations=None):
    activation = {"config": CONFIG} if activation is None else activation
    return expressions.evaluate_source(source, activation, declarations)


# -- normal expressions -----------------------------------------------------------------


def test_map_access_and_comparison():
    assert run('config.labels.app == "web" && config.spec.replicas > 2') is True


def test_has_distinguishes_missing_fields():
    assert run("has(config.labels.tier) && !has(config.labels.owner)") is True


def test_ternary():
    assert run('config.spec.replicas > 5 ? "big" : "small"') == "small"


def test_string_functions_from_ext_strings():
    assert run('"a,b,c".split(",").map(s, s.upperAscii())') == ["A", "B", "C"]
    assert run('config.name.startsWith("w") && config.name.contains("e")') is True


def test_comprehension_over_config_list():
    expression = 'config.status.conditions.exists(c, c.type == "Ready" && c.status == "False")'
    assert run(expression) is True


def test_map_builds_strings():
    assert run('config.spec.containers.map(c, config.name + "/" + c.name)') == [
        "web/app", "web/sidecar",
    ]


def test_timestamps_and_now():
    result = run(
        'now - timestamp(config.created) > duration("24h")',
        {"config": CONFIG, "now": NOW},
        {"config": "dyn", "now": "timestamp"},
    )
    assert result is True


def test_returns_datetime_and_timedelta():
    assert run("now", {"now": NOW}, {"now": "timestamp"}) == NOW
    assert run('duration("90s")', {}) == dt.timedelta(seconds=90)


def test_naive_datetime_is_read_as_utc():
    naive = dt.datetime(2025, 1, 1, 12, 0)
    assert run("now", {"now": naive}, {"now": "timestamp"}) == naive.replace(tzinfo=dt.UTC)


def test_nested_datetime_becomes_rfc3339_text():
    activation = {"item": {"created_at": NOW}}
    assert run("timestamp(item.created_at) == now", {**activation, "now": NOW},
               {"item": "map", "now": "timestamp"}) is True


def test_returns_plain_python_structures():
    assert run('{"a": [1, 2.5, null, true, b"x"]}', {}) == {"a": [1, 2.5, None, True, b"x"]}


def test_compiled_programs_are_memoised():
    first = expressions.compile("config.name", {"config": "dyn"})
    assert expressions.compile("config.name", {"config": "dyn"}) is first


def test_check_bool_accepts_boolean_expression():
    program = expressions.check_bool("config.spec.replicas > 1", {"config": "dyn"})
    assert expressions.evaluate(program, {"config": CONFIG}) is True


def test_check_bool_rejects_string_result():
    with pytest.raises(ExpressionError, match="must return a bool, but it returns string"):
        expressions.check_bool('"yes"', {})


# -- compile-time rejection ---------------------------------------------------------------


def test_type_mismatch_rejected_at_compile_with_position():
    with pytest.raises(ExpressionError, match=r"line 1, column 3: found no matching overload"):
        expressions.compile('n + "x"', {"n": "int"})


def test_undeclared_variable_rejected_at_compile():
    with pytest.raises(ExpressionError, match=r"undeclared reference to 'secrets.token'$"):
        expressions.compile("secrets.token", {"config": "dyn"})


def test_syntax_error_names_position():
    with pytest.raises(ExpressionError, match=r"line 1, column \d+"):
        expressions.compile("config.name ==", {"config": "dyn"})


def test_empty_expression_rejected():
    with pytest.raises(ExpressionError, match="empty"):
        expressions.compile("   ", {})


# -- runtime errors never echo activation values --------------------------------------------


def test_missing_key_error_redacts_data_key():
    activation = {"config": {"m": {"a": 1}, "k": SECRET}}
    with pytest.raises(ExpressionError) as caught:
        run("config.m[config.k]", activation)
    assert SECRET not in str(caught.value)


def test_missing_key_named_in_source_is_kept():
    with pytest.raises(ExpressionError, match='"owner"'):
        run("config.labels.owner")


def test_invalid_regex_from_data_is_not_echoed():
    activation = {"config": {"s": "x", "pattern": f"({SECRET}"}}
    with pytest.raises(ExpressionError) as caught:
        run("config.s.matches(config.pattern)", activation)
    assert SECRET not in str(caught.value)
    assert "Invalid regular expression" in str(caught.value)


def test_conversion_error_is_not_echoed():
    with pytest.raises(ExpressionError) as caught:
        run("int(config.s) > 1", {"config": {"s": SECRET}})
    assert SECRET not in str(caught.value)


def test_unreadable_input_type_is_named_without_value():
    with pytest.raises(ExpressionError, match=r"config\.x is a set"):
        run("config.x", {"config": {"x": {SECRET}}})


# -- activation caps ------------------------------------------------------------------------


def test_oversized_input_list_is_rejected_not_truncated():
    too_many = list(range(expressions.MAX_INPUT_LIST + 1))
    with pytest.raises(ExpressionError, match=r"config.items is a list of 5001 items"):
        run("config.items.size()", {"config": {"items": too_many}})


def test_input_list_at_the_cap_is_accepted():
    at_cap = list(range(expressions.MAX_INPUT_LIST))
    assert run("xs.size()", {"xs": at_cap}) == expressions.MAX_INPUT_LIST


def test_oversized_input_string_is_rejected():
    with pytest.raises(ExpressionError, match="string of"):
        run("s.size()", {"s": "a" * (expressions.MAX_INPUT_STRING + 1)})


def test_slow_evaluation_is_logged_without_values(caplog, monkeypatch):
    # A zero threshold makes every evaluation "slow": the test needs no clock and no luck.
    monkeypatch.setattr(expressions, "SLOW_EVALUATION_SECONDS", 0.0)
    source = "xs.exists(x, x == s)"

    with caplog.at_level(logging.WARNING, logger="flightdeck.expressions"):
        assert run(source, {"xs": ["a", SECRET], "s": SECRET}) is True

    [record] = [r for r in caplog.records if r.name == "flightdeck.expressions"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "slow CEL evaluation"
    assert record.expression == source  # the source, never the activation
    assert isinstance(record.seconds, float) and record.seconds >= 0
    assert SECRET not in repr(vars(record))


def test_fast_evaluation_is_not_logged(caplog, monkeypatch):
    monkeypatch.setattr(expressions, "SLOW_EVALUATION_SECONDS", 60.0)

    with caplog.at_level(logging.WARNING, logger="flightdeck.expressions"):
        assert run("1 + 1 == 2") is True

    assert [r for r in caplog.records if r.name == "flightdeck.expressions"] == []


# -- pathological payloads ------------------------------------------------------------------

TEN = "[0,1,2,3,4,5,6,7,8,9]"


def nested_maps(levels):
    source = "1"
    for depth in range(levels):
        source = f"{TEN}.map(v{depth}, {source})"
    return source


def nested_parens(count):
    return "(" * count + "1" + ")" * count


XS_1K = list(range(1000))
XS_2K = list(range(2000))
XS_5K = list(range(5000))
LONG_A = "a" * 1_000_000 + "b"

# (id, source, activation, expected outcome: "compile" or "stopped")
PAYLOADS = [
    ("nested-map-1e5", nested_maps(5), {}, "compile"),
    ("nested-map-1e6", nested_maps(6), {}, "compile"),
    ("nested-map-1e7", nested_maps(7), {}, "compile"),
    ("nested-filter-1e5", f"{TEN}.filter(a, {TEN}.filter(b, {TEN}.filter(c, true).size() > 0)"
     ".size() > 0)", {}, "compile"),
    ("two-level-map-1e6", "xs.map(x, xs.map(y, [x, y]))", {"xs": XS_1K}, "stopped"),
    ("two-level-map-1e7", "xs.map(x, ys.map(y, x + y))", {"xs": XS_5K, "ys": XS_2K}, "stopped"),
    ("quadratic-all-exists-2k", "xs.all(x, xs.exists(y, y == x))", {"xs": XS_2K}, "stopped"),
    ("quadratic-all-exists-20k-input", "xs.all(x, xs.exists(y, y == x))",
     {"xs": list(range(20_000))}, "stopped"),
    ("quadratic-all-exists-20k-derived", "(xs + xs + xs + xs).all(x, xs.exists(y, y == x))",
     {"xs": XS_5K}, "stopped"),
    ("map-accumulation-5k", "xs.map(x, x).size()", {"xs": XS_5K}, "stopped"),
    ("map-over-concatenation-10k", "(xs + xs + xs + xs + xs).map(x, x).size()",
     {"xs": XS_2K}, "stopped"),
    ("map-over-split-1m", 's.split("").map(c, c).size()', {"s": LONG_A}, "stopped"),
    ("list-concat-in-loop", "xs.all(x, (xs + xs + xs + xs).size() > 0)", {"xs": XS_5K},
     "stopped"),
    ("string-concat-in-loop", "xs.all(x, (s + s + s + s).size() > 0)",
     {"xs": XS_5K, "s": "a" * 100_000}, "stopped"),
    ("lowerAscii-in-loop", "xs.all(x, s.lowerAscii().size() > 0)",
     {"xs": XS_5K, "s": LONG_A}, "stopped"),
    ("parens-64", nested_parens(64), {}, "compile"),
    ("parens-400", nested_parens(400), {}, "compile"),
    ("parens-500", nested_parens(500), {}, "compile"),
    ("plus-chain-400", "+".join(["1"] * 400), {}, "compile"),
    ("plus-chain-5000", "+".join(["1"] * 5000), {}, "compile"),
    ("literal-400kB", '"' + "a" * 400_000 + '"', {}, "compile"),
    ("string-cross-product", '["a","b","c","d"].map(x, ["a","b","c","d"].map(y, '
     '["a","b","c","d"].map(z, x + y + z)))', {}, "compile"),
    ("replace-bomb", '"a"' + '.replace("a","aaaaaaaaaa")' * 9, {}, "compile"),
    ("replace-empty-pattern", 's.replace("", s)', {"s": "abc"}, "compile"),
    ("regex-nested-quantifier", 's.matches("(a+)+$")', {"s": LONG_A}, "completed"),
    ("regex-alternation", 's.matches("(a|aa)+$")', {"s": LONG_A}, "completed"),
    ("regex-in-loop", 'xs.all(x, s.matches("(a*)*b$"))', {"xs": XS_5K, "s": "a" * 100_000},
     "completed"),
    ("undeclared-variable", "secrets.token", {}, "compile"),
    ("type-mismatch", 'n + "x"', {"n": 1}, "compile"),
    ("long-identifier", "a" * 900, {}, "compile"),
    ("long-field-name", "config." + "f" * 900, {"config": {}}, "compile"),
]

DECLARATIONS = {"config": "dyn", "xs": "dyn", "ys": "dyn", "s": "dyn", "n": "int"}


def attempt(source, activation):
    """Return (outcome, seconds); outcome is compile, stopped or completed.

    CPU time of this thread, not wall time: the engine runs in this thread holding the GIL, and
    a loaded CI machine must not turn a bounded evaluation into a failure.
    """
    started = time.thread_time()
    try:
        program = expressions.compile(source, DECLARATIONS)
    except ExpressionError:
        return "compile", time.thread_time() - started
    try:
        expressions.evaluate(program, activation)
    except ExpressionError:
        return "stopped", time.thread_time() - started
    return "completed", time.thread_time() - started


@pytest.mark.parametrize(("source", "activation", "expected"),
                         [p[1:] for p in PAYLOADS], ids=[p[0] for p in PAYLOADS])
def test_pathological_payload_is_bounded(source, activation, expected):
    outcome, seconds = attempt(source, activation)
    assert outcome == expected
    assert seconds < 1.0


def test_payload_report_p100_under_one_second(capsys):
    timings = {}
    for name, source, activation, _ in PAYLOADS:
        timings[name] = attempt(source, activation)
    with capsys.disabled():
        print(f"\nCEL payloads: {len(PAYLOADS)}")
        for name, (outcome, seconds) in sorted(timings.items(), key=lambda kv: -kv[1][1]):
            print(f"  {seconds * 1000:8.1f} ms  {outcome:9}  {name}")
        worst = max(seconds for _, seconds in timings.values())
        counts = {o: sum(1 for out, _ in timings.values() if out == o)
                  for o in ("compile", "stopped", "completed")}
        print(f"  rejected at compile {counts['compile']}, stopped {counts['stopped']}, "
              f"completed {counts['completed']}, p100 {worst * 1000:.1f} ms")
    assert len(PAYLOADS) >= 20
    assert worst < 1.0
