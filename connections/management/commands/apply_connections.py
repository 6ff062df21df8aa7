"""`manage.py apply_connections FILE|DIR...`: Connection manifests (flightdeck.dev/v1) from YAML.

The same serializer and store as the API, with the rules of a custom resource: secret fields
must reference a Secret, ConfigMap or environment variable, never hold a literal. Rows are
`managed_by=file` with `source_ref=file://<path>`, so the UI and API refuse to edit them.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.scrapers.documents import parse
from connections import store
from connections.api.serializers import ConnectionSerializer
from connections.models import Connection
from portal.models import ManagedBy


def manifests(paths: list[str]) -> list[tuple[str, int, Any]]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{raw} does not exist")
    found = []
    for path in files:
        for doc in parse(path.read_bytes(), str(path)):
            if doc.error:
                raise CommandError(f"{path}#{doc.index}: {doc.error}")
            if isinstance(doc.value, dict) and doc.value.get("kind") == "Connection":
                found.append((str(path), doc.index, doc.value))
    return found


class Command(BaseCommand):
    help = "Create or update Connections from flightdeck.dev/v1 Connection manifests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        errors = []
        for path, index, manifest in manifests(options["paths"]):
            meta = manifest.get("metadata") or {}
            name, namespace = meta.get("name", ""), meta.get("namespace", "default")
            serializer = ConnectionSerializer(
                data={"name": name, "namespace": namespace, "spec": manifest.get("spec") or {}},
                context={"literals": False, "trusted": True})
            if not serializer.is_valid():
                errors.append(f"{path}#{index} ({namespace}/{name}): {serializer.errors}")
                continue
            existing = Connection.objects.filter(name=name, namespace=namespace,
                                                 deleted_at__isnull=True).first()
            if existing is not None and existing.managed_by not in (ManagedBy.FILE,):
                errors.append(f"{path}#{index}: {namespace}/{name} is managed by "
                              f"{existing.managed_by}; not overwritten")
                continue
            prepared = store.separate(serializer.validated_data["spec"],
                                      store.stored_fields(existing))
            connection, changed = store.save(existing, name=name, namespace=namespace,
                                             prepared=prepared, managed_by=ManagedBy.FILE)
            Connection.objects.filter(pk=connection.pk).update(source_ref=f"file://{path}")
            verb = "updated" if existing else "created"
            self.stdout.write(f"{namespace}/{name}: {verb} ({', '.join(changed) or 'no change'})")
        if errors:
            for error in errors:
                self.stderr.write(f"error: {error}")
            raise CommandError(f"{len(errors)} manifest(s) rejected")
