"""`manage.py ensure_admin`: the first admin, from the environment or generated once."""

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from accounts.models import Person


class Command(BaseCommand):
    help = "Create the admin user (FLIGHTDECK_ADMIN_EMAIL/PASSWORD, else generated once)."

    def handle(self, *args: Any, **options: Any) -> None:
        email = os.environ.get("FLIGHTDECK_ADMIN_EMAIL", "admin@flightdeck.local").lower()
        password = os.environ.get("FLIGHTDECK_ADMIN_PASSWORD", "")
        state = Path(settings.FLIGHTDECK_STATE_DIR)
        stored = state / "admin-credentials"
        if not password and stored.exists():
            saved_email, _, password = stored.read_text().strip().partition(" ")
            email = saved_email or email
        generated = False
        if not password:
            password = secrets.token_urlsafe(12)
            generated = True
        person = Person.objects.filter(email=email).first()
        if person is None:
            person = Person.objects.create_superuser(email, password, name="Administrator")
            person.groups.add(Group.objects.get(name="admin"))
            if generated:
                state.mkdir(parents=True, exist_ok=True)
                stored.write_text(f"{email} {password}\n")
                stored.chmod(0o600)
                self.stdout.write(f"Admin created: {email} / {password} (kept in {stored})")
            else:
                self.stdout.write(f"Admin created: {email}")
        elif os.environ.get("FLIGHTDECK_ADMIN_PASSWORD"):
            person.set_password(password)
            person.save(update_fields=["password"])
            self.stdout.write(f"Admin password updated from the environment: {email}")
        else:
            self.stdout.write(f"Admin exists: {email} (password in {stored} if generated)")
