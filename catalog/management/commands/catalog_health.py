"""`manage.py catalog_health FILE...`: print the built-in health verdict of each document.

Reads YAML or JSON files (multi-document; `-` is stdin; a folder means every *.yaml, *.yml and
*.json under it, sorted) and prints one JSON line per document:
{"path", "index", "type", "name", "health", "status", "ready", "message"}. `List` and
`<Kind>List` documents print one line per item, each with the list's index. The type of a
Kubernetes object comes from its kind; other documents take --type, or their own `type` field
when it reads like `Provider::Kind`. A document that
cannot be assessed prints {"path", "index", "error"} and the command exits 1 after the rest.
It never touches the database, so it works on a laptop against files pulled from a cluster.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.health import assess, kubernetes_type
from catalog.health.objects import dig, text, timestamp
from catalog.scrapers.documents import parse
from portal.errors import FlightdeckError

SUFFIXES = (".yaml", ".yml", ".json")
NAME_KEYS = ("name", "Name", "id", "Id", "ID")
NAME_SUFFIXES = ("Name", "Identifier", "Id", "Arn")


def _files(paths: list[str]) -> Iterator[str]:
    """Folders expand to their data files, sorted, so output is stable between runs."""
    for raw in paths:
        path = Path(raw)
        if raw != "-" and path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
            yield from (str(p) for p in sorted(found))
        else:
            yield raw


def _name(obj: Mapping[str, Any]) -> str:
    """metadata.name for Kubernetes; the usual name or id field for cloud documents."""
    if name := text(dig(obj, "metadata.name")):
        return name
    for key in NAME_KEYS:
        if name := text(obj.get(key)):
            return name
    for key, value in obj.items():
        if isinstance(key, str) and key.endswith(NAME_SUFFIXES) and isinstance(value, str):
            return value
    return ""


def _type(obj: Mapping[str, Any], given: str) -> str:
    """Kubernetes objects name their own type; others take --type, or a `type: A::B` field."""
    if obj.get("apiVersion") and obj.get("kind"):
        return kubernetes_type(obj)
    own = text(obj.get("type"))
    return given or (own if "::" in own else "") or kubernetes_type(obj)


def _members(value: Any) -> list[Any]:
    """`kubectl get -o yaml` wraps results in a List; assess its items one by one."""
    if isinstance(value, Mapping) and isinstance(value.get("items"), list):
        kind = text(value.get("kind"))
        if kind == "List" or kind.endswith("List"):
            return value["items"]
    return [value]


class Command(BaseCommand):
    help = "Print the built-in health verdict of each document in YAML or JSON files."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False
    stealth_options = ("stdin",)  # call_command(stdin=...) stands in for the terminal

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="file, folder or - (stdin)")
        parser.add_argument("--type", default="", help="type of non-Kubernetes documents")
        parser.add_argument("--now", default="", help="RFC 3339 time to judge at (default: now)")

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options["now"]:
            now = timestamp(options["now"])
            if now is None:
                raise CommandError(f"--now: {options['now']!r} is not an RFC 3339 time")
        stdin = options.get("stdin") or sys.stdin
        failures = 0
        for path in _files(options["paths"]):
            for line in self._assess_file(path, options["type"], now, stdin):
                failures += "error" in line
                self.stdout.write(json.dumps(line, ensure_ascii=False))
        if failures:
            noun = "document" if failures == 1 else "documents"
            raise CommandError(f"{failures} {noun} could not be assessed", returncode=1)

    def _assess_file(
        self, path: str, type_name: str, now: datetime | None, stdin: Any
    ) -> Iterator[dict[str, Any]]:
        try:
            if path == "-":
                data = getattr(stdin, "buffer", stdin).read()
                data = data.encode() if isinstance(data, str) else data
            else:
                data = Path(path).read_bytes()
        except OSError as exc:
            yield {"path": path, "index": 0, "error": f"cannot read: {exc.strerror or exc}"}
            return
        fmt = "json" if path == "-" and data.lstrip()[:1] in (b"{", b"[") else ""
        for document in parse(data, path, fmt):
            if document.error:
                yield {"path": path, "index": document.index, "error": document.error}
                continue
            for member in _members(document.value):
                yield self._verdict(path, document.index, member, type_name, now)

    def _verdict(
        self, path: str, index: int, obj: Any, type_name: str, now: datetime | None
    ) -> dict[str, Any]:
        if not isinstance(obj, Mapping):
            kind = "list" if isinstance(obj, list) else type(obj).__name__
            return {"path": path, "index": index, "error": f"expected an object, got a {kind}"}
        resolved = _type(obj, type_name)
        if not resolved:
            error = (
                "no type: the document has no apiVersion/kind or Provider::Kind type; pass --type"
            )
            return {"path": path, "index": index, "error": error}
        try:
            verdict = assess(obj, resolved, now)
        except FlightdeckError as exc:
            return {"path": path, "index": index, "error": str(exc)}
        return {
            "path": path,
            "index": index,
            "type": resolved,
            "name": _name(obj),
            **verdict.as_dict(),
        }
