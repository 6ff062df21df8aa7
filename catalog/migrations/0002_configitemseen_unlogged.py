from django.db import migrations


class Migration(migrations.Migration):
    """"Seen again" markers are re-derived by the next scrape, so they skip the WAL entirely."""

    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE catalog_configitemseen SET UNLOGGED",
            "ALTER TABLE catalog_configitemseen SET LOGGED",
        )
    ]
