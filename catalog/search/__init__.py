"""Search language: text -> AST -> one filtered, ordered queryset, plus facets."""

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
    Word,
    parse,
    parse_field,
    print_query,
)

__all__ = [
    "And",
    "Bare",
    "Compare",
    "Exists",
    "Node",
    "Not",
    "Or",
    "Query",
    "Related",
    "SearchError",
    "SearchResult",
    "SortKey",
    "Word",
    "facets",
    "filter_changes",
    "filter_items",
    "parse",
    "parse_field",
    "print_query",
]


def __getattr__(name: str) -> object:
    # The compiler imports models; keep parse/print importable without a configured Django.
    if name in ("SearchResult", "facets", "filter_changes", "filter_items"):
        from catalog.search import compiler

        return getattr(compiler, name)
    raise AttributeError(name)
