"""Sandboxed Jinja2 through portal/templating.py: filters, strictness, sandbox-escape payloads."""

import datetime as dt
import time

import pytest

from portal.errors import TemplateError
from portal.templating import render, render_tree, render_yaml_value

SECRET = "hunter2-canary"
CONTEXT = {
    "params": {"replicas": "3", "name": "web app", "enabled": "true", "token": SECRET},
    "config": {"name": "web", "labels": {"app": "web", "tier": "frontend"}},
    "items": [1, 2, 3],
}


# -- rendering and filters ------------------------------------------------------------------


def test_renders_context_values_without_autoescape():
    assert render("{{ config.name }} <b>{{ items|length }}</b> & done", CONTEXT) == (
        "web <b>3</b> & done"
    )


def test_to_json_filter():
    assert render("{{ config.labels | to_json }}", CONTEXT) == '{"app": "web", "tier": "frontend"}'


def test_to_yaml_filter_keeps_key_order_without_trailing_newline():
    assert render("{{ config.labels | to_yaml }}", CONTEXT) == "app: web\ntier: frontend"


def test_from_json_filter():
    assert render("{{ ('{\"a\": [1, 2]}' | from_json).a[1] }}", CONTEXT) == "2"


def test_from_json_error_names_position_not_text():
    with pytest.raises(TemplateError, match="not valid JSON at line 1, column 1") as caught:
        render("{{ params.token | from_json }}", CONTEXT)
    assert SECRET not in str(caught.value)


def test_b64_filters_round_trip():
    assert render("{{ 'héllo' | b64encode }}", {}) == "aMOpbGxv"
    assert render("{{ 'aMOpbGxv' | b64decode }}", {}) == "héllo"


def test_b64decode_refuses_garbage():
    with pytest.raises(TemplateError, match="b64decode"):
        render("{{ 'not base64!' | b64decode }}", {})


def test_shquote_filter_quotes_for_shell():
    assert render("echo {{ params.name | shquote }}", CONTEXT) == "echo 'web app'"
    assert render("{{ \"a'b; rm -rf /\" | shquote }}", {}) == "'a'\"'\"'b; rm -rf /'"


@pytest.mark.parametrize(("value", "text"), [
    (0.25, "250ms"), (90, "1m30s"), (3600, "1h"), (93784, "1d2h3m4s"),
    (dt.timedelta(minutes=5), "5m"),
])
def test_duration_filter(value, text):
    assert render("{{ v | duration }}", {"v": value}) == text


def test_age_filter_from_datetime_and_iso_text():
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1, seconds=1)
    assert render("{{ t | age }}", {"t": an_hour_ago}).startswith("1h")
    assert render("{{ '2000-01-01T00:00:00Z' | age }}", {}).endswith("s")


def test_range_within_cap_works():
    assert render("{% for i in range(3) %}{{ i }}{% endfor %}", {}) == "012"


# -- strictness and error mapping -----------------------------------------------------------


def test_undefined_variable_is_an_error_naming_the_line():
    with pytest.raises(TemplateError, match=r"^line 2: 'missing' is undefined$"):
        render("ok\n{{ missing }}", CONTEXT)


def test_syntax_error_names_the_line():
    with pytest.raises(TemplateError, match=r"^line 3: "):
        render("a\nb\n{{ x.y }", {})


def test_error_does_not_echo_context_values():
    with pytest.raises(TemplateError) as caught:
        render("{{ config[params.token] }}", CONTEXT)
    assert SECRET not in str(caught.value)


def test_python_error_message_is_replaced_by_its_type():
    with pytest.raises(TemplateError, match=r"^line 1: TypeError while rendering") as caught:
        render("{{ '%d' % params.token }}", CONTEXT)
    assert SECRET not in str(caught.value)


def test_import_and_include_are_refused_clearly():
    with pytest.raises(TemplateError, match="cannot import, include or extend"):
        render("{% include 'other.txt' %}", {})


def test_output_size_is_capped():
    with pytest.raises(TemplateError, match="longer than the limit of 100 characters"):
        render("{% for i in range(200) %}x{% endfor %}", {}, max_output=100)


# -- YAML values ----------------------------------------------------------------------------


def test_single_expression_is_reparsed_as_yaml():
    assert render_yaml_value("{{ params.replicas }}", CONTEXT) == 3
    assert render_yaml_value("  {{ params.enabled }} ", CONTEXT) is True


def test_single_expression_can_yield_structures():
    assert render_yaml_value("{{ config.labels | to_json }}", CONTEXT) == {
        "app": "web", "tier": "frontend",
    }


def test_mixed_text_stays_a_string():
    assert render_yaml_value("{{ params.replicas }} pods", CONTEXT) == "3 pods"
    assert render_yaml_value("{{ params.replicas }}{{ params.replicas }}", CONTEXT) == "33"


def test_unparseable_yaml_stays_a_string():
    assert render_yaml_value("{{ '[unclosed' }}", {}) == "[unclosed"


def test_empty_rendering_stays_an_empty_string():
    assert render_yaml_value("{{ '' }}", {}) == ""


def test_non_strings_pass_through():
    assert render_yaml_value(5, {}) == 5


def test_yaml_alias_bomb_in_output_is_refused():
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(6))
    with pytest.raises(TemplateError, match="more than 100,000 nodes"):
        render_yaml_value("{{ bomb }}", {"bomb": bomb})


def test_render_tree_renders_nested_strings():
    tree = {"spec": {"replicas": "{{ params.replicas }}",
                     "name": "{{ config.name }}-canary",
                     "ports": [80, "{{ items | length }}"]},
            "{{ config.name }}": True}
    assert render_tree(tree, CONTEXT) == {
        "spec": {"replicas": 3, "name": "web-canary", "ports": [80, 3]},
        "web": True,
    }


# -- sandbox-escape and bomb payloads ---------------------------------------------------

PAYLOADS = [
    ("mro", "{{ ''.__class__.__mro__ }}"),
    ("subclasses", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
    ("attr-class", "{{ ''|attr('__class__') }}"),
    ("attr-format-call", "{{ ('{0.__class__.__mro__}'|attr('format'))('') }}"),
    ("str-format-class", "{{ '{0.__class__}'.format(config) }}"),
    ("str-format-globals", "{{ '{0.__init__.__globals__}'.format(config) }}"),
    ("format-map", "{{ '{a.__class__}'.format_map({'a': config}) }}"),
    ("format-map-attr", "{{ ('{a.__class__}'|attr('format_map'))({'a': config}) }}"),
    ("self-init-globals", "{{ self.__init__.__globals__ }}"),
    ("self-module", "{{ self._TemplateReference__context }}"),
    ("cycler-globals", "{{ cycler.__init__.__globals__.os }}"),
    ("joiner-globals", "{{ joiner.__init__.__globals__ }}"),
    ("namespace-globals", "{{ namespace.__init__.__globals__ }}"),
    ("namespace-doubling", "{% set ns = namespace(s='a') %}{% for i in range(60) %}"
     "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"),
    ("lipsum-bomb", "{{ lipsum(1000000) }}"),
    ("request-globals", "{{ request.application.__globals__ }}"),
    ("config-class", "{{ config.__class__.__base__.__subclasses__() }}"),
    ("list-mutation", "{{ items.append(4) }}"),
    ("dict-mutation", "{{ config.update({'a': 1}) }}"),
    ("range-huge", "{{ range(10**9)|list }}"),
    ("range-nested-total", "{% for i in range(10000) %}{% for j in range(10000) %}"
     "{% endfor %}{% endfor %}"),
    ("string-multiply", "{{ 'a' * 10**9 }}"),
    ("list-multiply", "{{ [1] * 10**9 }}"),
    ("power", "{{ 2 ** 10000000 }}"),
    ("center", "{{ 'a'|center(10**9) }}"),
    ("indent", "{{ 'a'|indent(10**9) }}"),
    ("ljust", "{{ 'a'.ljust(10**9) }}"),
    ("zfill", "{{ 'a'.zfill(10**9) }}"),
    ("percent-width", "{{ '%999999999d' % 1 }}"),
    ("format-filter-width", "{{ '%999999999d'|format(1) }}"),
    ("format-star-width", "{{ '%*d'|format(999999999, 1) }}"),
    ("brace-width", "{{ '{:>999999999}'.format(1) }}"),
    ("brace-nested-width", "{{ '{:>{}}'.format(1, 999999999) }}"),
    ("replace-filter-chain", "{{ 'a'" + "|replace('a','aaaaaaaaaa')" * 9 + " }}"),
    ("replace-method-chain", "{{ 'a'" + ".replace('a','aaaaaaaaaa')" * 9 + " }}"),
    ("wordwrap-wrapstring", "{{ ('a ' * 100000)|wordwrap(1, wrapstring='x' * 1000) }}"),
    ("output-loop", "{% for i in range(10000) %}{{ 'x' * 100 }}{% endfor %}"),
    ("import-os", "{% import 'os' as os %}{{ os }}"),
    ("include-file", "{% include '/etc/passwd' %}"),
]


def attempt(template):
    started = time.thread_time()  # CPU time of the render: load elsewhere must not count
    try:
        output = render(template, CONTEXT)
    except TemplateError as exc:
        return "refused", str(exc), time.thread_time() - started
    return "rendered", output, time.thread_time() - started


@pytest.mark.parametrize("template", [p[1] for p in PAYLOADS], ids=[p[0] for p in PAYLOADS])
def test_payload_is_refused_quickly(template):
    outcome, message, seconds = attempt(template)
    assert outcome == "refused", message[:200]
    assert SECRET not in message
    assert seconds < 1.0


def test_payload_report_zero_escapes(capsys):
    results = {name: attempt(template) for name, template in PAYLOADS}
    escapes = [name for name, (outcome, _, _) in results.items() if outcome != "refused"]
    worst = max(seconds for _, _, seconds in results.values())
    with capsys.disabled():
        print(f"\nTemplate payloads: {len(PAYLOADS)}, escapes: {len(escapes)}, "
              f"p100 render {worst * 1000:.1f} ms")
        for name, (outcome, message, seconds) in results.items():
            print(f"  {seconds * 1000:7.1f} ms  {outcome:8}  {name}: {message[:70]}")
    assert escapes == []
    assert worst < 1.0
