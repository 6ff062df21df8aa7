"""Re-encrypt every stored connection secret with the newest key in FLIGHTDECK_SECRET_KEYS."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connections import crypto
from connections.errors import SecretStoreError
from connections.models import ConnectionSecret


class Command(BaseCommand):
    help = ("Re-encrypt connection secrets with the first key of FLIGHTDECK_SECRET_KEYS, so "
            "older keys can then be removed.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            primary = crypto.primary_key_id()
        except SecretStoreError as exc:
            raise CommandError(str(exc)) from exc
        rotated = current = 0
        with transaction.atomic():
            for row in ConnectionSecret.objects.select_for_update().order_by("pk"):
                try:
                    ciphertext, key_id = crypto.rotate(row.ciphertext)
                except SecretStoreError as exc:
                    raise CommandError(f"secret {row.connection_id}/{row.field}: {exc}") from exc
                if row.key_id == primary:
                    current += 1
                else:
                    rotated += 1
                row.ciphertext, row.key_id = ciphertext, key_id
                row.save(update_fields=["ciphertext", "key_id", "updated_at"])
        self.stdout.write(f"rotated {rotated} secret(s) to key {primary}; "
                          f"{current} already used it (re-encrypted anyway)")
