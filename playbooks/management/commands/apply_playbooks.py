"""`manage.py apply_playbooks FILE|DIR...`: Playbook manifests into the catalog of playbooks."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from playbooks import files


class Command(BaseCommand):
    help = "Create or update Playbooks from flightdeck.dev/v1 Playbook manifests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        missing = [p for p in options["paths"] if not Path(p).exists()]
        if missing:
            raise CommandError(f"{', '.join(missing)} does not exist")
        applied = files.apply([Path(p) for p in options["paths"]])
        self.stdout.write(f"playbooks: {len(applied.created)} created, {len(applied.updated)} "
                          f"updated, {len(applied.unchanged)} unchanged")
        if applied.errors:
            raise CommandError("\n".join(applied.errors))
