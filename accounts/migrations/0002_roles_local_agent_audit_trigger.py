from django.db import migrations

from portal.ids import LOCAL_AGENT_ID

ROLES = ("admin", "editor", "operator", "viewer", "agent")

AUDIT_TRIGGER = """
CREATE OR REPLACE FUNCTION accounts_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'accounts_auditevent is append-only: % rejected', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_auditevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_append_only();
"""

DROP_AUDIT_TRIGGER = """
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
DROP FUNCTION IF EXISTS accounts_auditevent_append_only();
"""


def seed(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Agent = apps.get_model("accounts", "Agent")
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    Agent.objects.get_or_create(
        id=LOCAL_AGENT_ID, defaults={"name": "local", "description": "The hub itself"}
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunSQL(AUDIT_TRIGGER, DROP_AUDIT_TRIGGER),
    ]
