from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The run machinery learns about scrape runs here, so the reaper sees them in every
        # process (web, worker, beat, management commands).
        from catalog import scrape_runs

        scrape_runs.register()
        from catalog.views import register_tabs

        register_tabs()
