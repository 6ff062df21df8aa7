"""Tokens made before scopes were enforced could use every method; say so in their scopes, so
enforcing them breaks no script that already works. New tokens default to `read`."""

from django.db import migrations


def spell_out(apps, schema_editor):
    APIToken = apps.get_model("accounts", "APIToken")
    APIToken.objects.filter(scopes=[]).update(scopes=["read", "write"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles_local_agent_audit_trigger")]

    operations = [migrations.RunPython(spell_out, migrations.RunPython.noop)]
