"""Safe parsing of YAML/JSON files into documents, with caps against hostile input."""

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

MAX_NODES = 1_000_000
MAX_DEPTH = 200
MAX_ALIASES = 1_000
_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)


class DocumentError(ValueError):
    """A document that cannot be used; the message names what is wrong with it."""


class _StrictLoader(yaml.SafeLoader):
    """safe_load plus: duplicate keys are errors and alias use is bounded (alias bombs)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_count = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                raise DocumentError(f"more than {MAX_ALIASES} YAML aliases (alias bomb?)")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                line = key_node.start_mark.line + 1
                raise DocumentError(f"unhashable mapping key at line {line}") from None
            if duplicate:
                raise DocumentError(
                    f"duplicate key {key!r} at line {key_node.start_mark.line + 1}"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node, deep=True),
)

# YAML 1.1 resolves a bare `=` to the `value` tag, which no safe constructor handles, so real
# CRDs (prometheus-operator's `matchType` enum lists `- =`) failed to load. Kubernetes reads
# YAML 1.2 semantics, where `=` is a plain string: drop that one implicit resolver. The copy
# keeps SafeLoader's own table untouched for every other caller of PyYAML.
_VALUE_TAG = "tag:yaml.org,2002:value"
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _VALUE_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def check_size(value: Any) -> None:
    """Aliases stay shared in memory and explode only when serialised: count before that."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise DocumentError(f"document has more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise DocumentError(f"document nests deeper than {MAX_DEPTH} levels")
        if isinstance(current, Mapping):
            stack.extend((v, depth + 1) for v in current.values())
        elif isinstance(current, list):
            stack.extend((v, depth + 1) for v in current)


@dataclass(slots=True)
class Document:
    index: int
    value: Any = None
    error: str = ""


def _chunks(text: str) -> Iterator[str]:
    """Split on `---` first, so one malformed document does not hide the ones after it."""
    position = 0
    for match in _SEPARATOR.finditer(text):
        yield text[position:match.start()]
        position = match.end()
    yield text[position:]


def parse(data: bytes, filename: str, fmt: str = "") -> Iterator[Document]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Document(0, error=f"not UTF-8: invalid byte at offset {exc.start}")
        return
    if fmt == "json" or (not fmt and filename.endswith(".json")):
        try:
            value = json.loads(text, parse_constant=_reject_constant)
            check_size(value)
        except (ValueError, DocumentError) as exc:
            yield Document(0, error=f"invalid JSON: {exc}")
            return
        yield Document(0, value)
        return
    index = 0
    for chunk in _chunks(text):
        if not chunk.strip() or all(
            not line.strip() or line.lstrip().startswith("#") for line in chunk.splitlines()
        ):
            continue
        loader = _StrictLoader(chunk)
        try:
            value = loader.get_single_data()
            check_size(value)
        except (yaml.YAMLError, DocumentError, RecursionError) as exc:
            yield Document(index, error=f"invalid YAML: {_short(exc)}")
        else:
            if value is not None:
                yield Document(index, value)
        finally:
            loader.dispose()
        index += 1


def load_one(text: str) -> Any:
    """One YAML document with the same rules as `parse` (duplicate keys, aliases, size caps).

    For single documents typed in by users, such as a kubeconfig; raises DocumentError.
    """
    loader = _StrictLoader(text)
    try:
        value = loader.get_single_data()
        check_size(value)
    except yaml.YAMLError as exc:
        raise DocumentError(f"invalid YAML: {_short(exc)}") from None
    except RecursionError:
        raise DocumentError(f"document nests deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    return value


def _reject_constant(name: str) -> Any:
    raise DocumentError(f"{name} is not valid JSON")


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
