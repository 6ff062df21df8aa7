"""Admin: connections with guardian's per-object permission screens; secrets never listed."""

from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from connections.models import Connection


@admin.register(Connection)
class ConnectionAdmin(GuardedModelAdmin):
    list_display = ("name", "namespace", "type", "managed_by", "last_test_ok", "last_tested_at")
    list_filter = ("type", "managed_by", "last_test_ok")
    search_fields = ("name", "namespace")
    # The spec and EnvVar columns hold references only; literals live encrypted elsewhere.
    readonly_fields = ("type", "url", "username", "password", "certificate", "secrets",
                       "properties", "last_tested_at", "last_test_ok", "last_test_message",
                       "managed_by", "source_ref", "source_hash", "resource_version")
    exclude = ("spec",)

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        # Creation goes through the form or API, which validate the spec and encrypt secrets.
        return False
