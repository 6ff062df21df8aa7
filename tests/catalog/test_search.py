"""The search language's text side: parsing, printing and errors, with no database."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.search import (
    And,
    Bare,
    Compare,
    Exists,
    Not,
    Or,
    Query,
    Related,
    SearchError,
    SortKey,
    Word,
    parse,
    parse_field,
    print_query,
)
from catalog.search.syntax import (
    CHANGE_FIELDS,
    ITEM_FIELDS,
    KEYED,
    MAX_LIMIT,
    MAX_OFFSET,
    OPS,
    conjoin,
    disjoin,
)

ID = "0190f3a2-0000-7000-8000-000000000001"

EXAMPLES = [
    "nginx",
    "type=Kubernetes::Pod health=unhealthy",
    "type=pod,deployment health=unhealthy,warning",
    "health=unhealthy | status=CrashLoopBackOff",
    "(type=pod | type=job) namespace=payments",
    "*-canary*",
    "-test labels.app=checkout",
    "!labels.owner type=Kubernetes::Deployment",
    "tags.cluster=prod-* tags.environment!=staging",
    "config.spec.replicas>3 type=deployment",
    "updated_at>now-24h health!=healthy @order=-updated_at",
    f"related={ID},direction=outgoing,depth=2 health=unhealthy",
    "cost_total_30d>500 @order=-cost_total_30d limit=20",
    "deleted_at>now-7d type=Kubernetes::Namespace",
]
CHANGE_EXAMPLE = "change_type=ImageUpdated config.tags.cluster=prod-eu-1 created_at>now-2h"


def cmp(field: str, op: str, *values: str) -> Compare:
    return Compare(
        tuple(field.split(".", 1)) if "." in field else (field,), op, tuple(Word(v) for v in values)
    )


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_product_example_parses_and_prints_back(text: str) -> None:
    query = parse(text)
    assert parse(print_query(query)) == query


def test_the_change_example_parses_for_changes() -> None:
    query = parse(CHANGE_EXAMPLE, target="changes")
    assert query.expr == And(
        (
            Compare(("change_type",), "=", (Word("ImageUpdated"),)),
            Compare(("config", "tags", "cluster"), "=", (Word("prod-eu-1"),)),
            Compare(("created_at",), ">", (Word("now-2h"),)),
        )
    )


def test_space_is_and() -> None:
    assert parse("a b").expr == And((Bare(Word("a")), Bare(Word("b"))))


def test_bar_binds_tighter_than_space() -> None:
    assert parse("a | b c").expr == And((Or((Bare(Word("a")), Bare(Word("b")))), Bare(Word("c"))))


def test_bar_needs_no_spaces() -> None:
    assert parse("health=unhealthy|status=x").expr == Or(
        (cmp("health", "=", "unhealthy"), cmp("status", "=", "x"))
    )


def test_parentheses_override_precedence() -> None:
    assert parse("a | (b c)").expr == Or((Bare(Word("a")), And((Bare(Word("b")), Bare(Word("c"))))))


def test_both_negations_mean_not() -> None:
    assert parse("-test").expr == parse("!test").expr == Not(Bare(Word("test")))


def test_negated_group() -> None:
    assert parse("!(a | b)").expr == Not(Or((Bare(Word("a")), Bare(Word("b")))))


def test_dash_inside_a_word_is_not_negation() -> None:
    assert parse("*-canary*").expr == Bare(Word("*-canary*"))


def test_comma_lists_values() -> None:
    assert parse("type=pod,deployment").expr == cmp("type", "=", "pod", "deployment")


def test_all_operators() -> None:
    for op in OPS:
        assert parse(f"count{op}3", target="changes").expr == cmp("count", op, "3")


def test_quoted_values_keep_spaces_and_escapes() -> None:
    value = parse(r'name="a b \"c\""').expr.values[0]
    assert value == Word('a b "c"', quoted=True)
    assert not value.wildcard


def test_single_quotes_work_too() -> None:
    assert parse("name='a b'").expr == parse('name="a b"').expr


def test_aliases_resolve_to_canonical_fields() -> None:
    assert parse("updated>now-1h").expr == cmp("updated_at", ">", "now-1h")
    assert print_query(parse("deleted>now-1h")) == "deleted_at>now-1h"


def test_field_names_are_case_insensitive() -> None:
    assert parse("Health=x").expr == cmp("health", "=", "x")


def test_label_keys_keep_their_dots() -> None:
    expected = Compare(("labels", "app.kubernetes.io/name"), "=", (Word("web"),))
    assert parse("labels.app.kubernetes.io/name=web").expr == expected
    assert parse('labels."app.kubernetes.io/name"=web').expr == expected


def test_config_paths_split_on_dots_unless_quoted() -> None:
    assert parse('config.metadata."a.b".c=1').expr.field == ("config", "metadata", "a.b", "c")


def test_map_field_alone_is_existence() -> None:
    assert parse("!labels.owner").expr == Not(Exists(("labels", "owner")))


def test_config_item_fields_on_changes() -> None:
    assert parse("config.labels.app", target="changes").expr == Exists(("config", "labels", "app"))
    assert parse("config.config.spec.replicas>1", target="changes").expr.field == (
        "config",
        "config",
        "spec",
        "replicas",
    )


def test_related_options_default() -> None:
    assert parse(f"related={ID}").expr == Related(("related",), ID, "all", 5, "both")


def test_related_options() -> None:
    node = parse(f"related={ID.upper()},kind=hard,depth=3,direction=incoming").expr
    assert node == Related(("related",), ID, "incoming", 3, "hard")
    assert print_query(parse(f"related={ID},depth=5")) == f"related={ID}"


def test_directives_are_separated() -> None:
    query = parse("a @order=-updated_at,name limit=20 offset=40")
    assert query == Query(
        Bare(Word("a")),
        (SortKey(("updated_at",), True), SortKey(("name",), False)),
        20,
        40,
    )


def test_empty_query() -> None:
    assert parse("   ") == Query()
    assert print_query(Query()) == ""


def test_canonical_printing() -> None:
    text = "  -test   labels.app=checkout |  (tags.x=1 tags.y=2)  limit=5 @order=name"
    assert print_query(parse(text)) == (
        "!test labels.app=checkout | (tags.x=1 tags.y=2) @order=name limit=5"
    )


def test_parse_field() -> None:
    assert parse_field("tags.cluster") == ("tags", "cluster")
    assert parse_field("config.type", target="changes") == ("config", "type")


# -- errors -------------------------------------------------------------------------------

ERRORS = [
    ("health=healthy)", 14, "unexpected ')' at position 14"),
    ("helth=x", 0, "unknown field 'helth' at position 0; did you mean 'health'?"),
    ("(a", 0, "missing ')'"),
    ("()", 0, "empty parentheses"),
    ("a |", 3, "unexpected end of query"),
    ("name=", 5, "missing value after '='"),
    ("name=a,", 7, "missing value"),
    ("name=a*b", 6, "'*' may appear only at the start or end"),
    ("a*b", 1, "'*' may appear only"),
    ('name="abc', 5, 'unterminated " quote'),
    ("=x", 0, "expected a field before '='"),
    ("labels=x", 0, "'labels' needs a key"),
    ("name.x=1", 5, "'name' has no sub-fields"),
    ("updated_at>now,now", 14, "a list of values works only with = and !="),
    ("!!a", 1, "negation twice"),
    ("! a", 1, "expected a term after '!'"),
    ("a(b)", 1, "expected a space before '('"),
    ("(limit=1)", 1, "'limit' belongs at the top level"),
    ("!limit=1", 0, "'limit' cannot be negated"),
    ("a | limit=1", 2, "cannot be part of '|'"),
    ("limit=1 limit=2", 8, "'limit' given twice"),
    ("limit=x", 6, "limit needs a whole number"),
    (f"limit={MAX_LIMIT + 1}", 6, f"limit is at most {MAX_LIMIT}"),
    (f"offset={MAX_OFFSET + 1}", 7, "offset is at most"),
    ("limit>1", 0, "'limit' takes '='"),
    ("@sort=name", 0, "unknown directive '@sort'"),
    ("@order=helth", 7, "unknown field 'helth'"),
    ("@order=related", 7, "cannot order by 'related'"),
    ("related=abc", 8, "related needs an item id"),
    (f"related={ID},depth=11", 51, "depth is at most 10"),
    (f"related={ID},depth=0", 51, "depth is at least 1"),
    (f"related={ID},direction=up", 55, "direction must be one of all, incoming, outgoing"),
    (f"related={ID},sideways=1", 45, "unknown related option 'sideways'"),
    (f"related!={ID}", 0, "'related' takes '='"),
    ("a!b", 1, "expected '!=' or a space"),
    ("labels.", 7, "expected a name after '.'"),
    ("labels..a=1", 7, "expected a name before '.'"),
    ('labels."a"b=1', 10, "expected '.' between field parts"),
    ("name==x", 5, "unexpected '=' after '='"),
    ("(" * 40 + "a" + ")" * 40, 32, "nested too deeply"),
]


@pytest.mark.parametrize(("text", "position", "message"), ERRORS)
def test_errors_say_what_and_where(text: str, position: int, message: str) -> None:
    with pytest.raises(SearchError) as error:
        parse(text)
    assert error.value.position == position
    assert message in str(error.value)


def test_unknown_fields_list_the_known_ones() -> None:
    with pytest.raises(SearchError) as error:
        parse("owner=x")
    assert str(error.value).startswith("unknown field 'owner' at position 0; fields: id, name,")
    assert "labels.*" in str(error.value) and "related" in str(error.value)


def test_unknown_change_fields_list_change_fields() -> None:
    with pytest.raises(SearchError, match=r"fields: id, change_type, .*config\.<item field>"):
        parse("health=x", target="changes")


def test_item_scalar_under_config_on_changes_needs_a_comparison() -> None:
    with pytest.raises(SearchError, match=r"'config\.name' needs a comparison"):
        parse("config.name", target="changes")


def test_overlong_query() -> None:
    with pytest.raises(SearchError, match="longer than"):
        parse("a " * 3000)


# -- properties ------------------------------------------------------------------------------

SIMPLE = [name for name, kind in ITEM_FIELDS.items() if kind not in KEYED | {"related"}]
VALUE_CHARS = "abcXYZ019-_:/@+.#~"
BARE_CHARS = "abcXYZ019_:/@+#~-"


def starred(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["", "*"]), core, st.sampled_from(["", "*"])).map("".join)


unquoted_values = starred(st.text(VALUE_CHARS, min_size=1)) | st.just("*")
quoted = st.builds(lambda text: Word(text, quoted=True), st.text(max_size=8))
values = st.builds(Word, unquoted_values) | quoted
bare_words = (
    starred(st.text(BARE_CHARS, min_size=1).filter(lambda s: not s.startswith("-"))).map(Word)
    | quoted
)
keys = st.text(min_size=1, max_size=8)
fields = (
    st.sampled_from(SIMPLE).map(lambda name: (name,))
    | st.tuples(st.sampled_from(["labels", "tags", "properties"]), keys)
    | st.lists(keys, min_size=1, max_size=3).map(lambda path: ("config", *path))
)
keyed_fields = fields.filter(lambda path: len(path) > 1)


@st.composite
def compares(draw: st.DrawFn) -> Compare:
    op = draw(st.sampled_from(OPS))
    count = draw(st.integers(1, 3)) if op in ("=", "!=") else 1
    return Compare(draw(fields), op, tuple(draw(values) for _ in range(count)))


relateds = st.builds(
    lambda uid, direction, depth, kind: Related(("related",), str(uid), direction, depth, kind),
    st.uuids(),
    st.sampled_from(["all", "incoming", "outgoing"]),
    st.integers(1, 10),
    st.sampled_from(["both", "hard", "soft"]),
)
leaves = compares() | keyed_fields.map(Exists) | bare_words.map(Bare) | relateds
nodes = st.recursive(
    leaves,
    lambda children: (
        children.map(Not)
        | st.lists(children, min_size=2, max_size=3).map(conjoin)
        | st.lists(children, min_size=2, max_size=3).map(disjoin)
    ),
    max_leaves=8,
)
queries = st.builds(
    Query,
    st.none() | nodes,
    st.lists(st.builds(SortKey, fields, st.booleans()), max_size=2).map(tuple),
    st.none() | st.integers(0, MAX_LIMIT),
    st.none() | st.integers(0, MAX_OFFSET),
)


@settings(max_examples=500)
@given(queries)
def test_printed_queries_parse_back_to_the_same_tree(query: Query) -> None:
    assert parse(print_query(query)) == query


CHANGE_SIMPLE = [name for name, kind in CHANGE_FIELDS.items() if kind not in KEYED]
change_fields = (
    st.sampled_from(CHANGE_SIMPLE).map(lambda name: (name,))
    | st.lists(keys, min_size=1, max_size=3).map(lambda path: ("details", *path))
    | fields.map(lambda path: ("config", *path))
)


@settings(max_examples=200)
@given(st.lists(st.tuples(change_fields, st.sampled_from(OPS), values), min_size=1, max_size=3))
def test_change_queries_print_and_parse_back(parts: list) -> None:
    query = Query(conjoin([Compare(field, op, (value,)) for field, op, value in parts]))
    assert parse(print_query(query), target="changes") == query


NOISE = st.lists(
    st.sampled_from([*"ab1*.\"'\\()|!-=<>,@ \t:_", "name", "labels", "related", "limit"]),
    max_size=30,
).map("".join)


@settings(max_examples=1000)
@given(NOISE)
def test_any_text_parses_or_raises_search_error(text: str) -> None:
    try:
        query = parse(text)
    except SearchError as error:
        assert 0 <= error.position <= len(text)
        return
    assert parse(print_query(query)) == query


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_any_unicode_parses_or_raises_search_error(text: str) -> None:
    try:
        parse(text, target="changes")
    except SearchError:
        pass
