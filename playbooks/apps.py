from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    verbose_name = "Playbooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The reaper must know playbook runs in every process, not only in workers.
        from playbooks import execution

        execution.register()
        # The item page learns about this tab here; the catalog never imports playbooks.
        from playbooks import item_tab

        item_tab.register()
        # Event triggers consume the outbox in the dispatcher process.
        from playbooks import triggers

        triggers.register()
