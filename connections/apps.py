from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connections import checks  # noqa: F401  (registers system checks)
        from connections.redact import install_record_factory

        # Every log record is masked at creation, whichever handler ends up writing it.
        install_record_factory()
