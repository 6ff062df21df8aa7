"""Admin: read what ran; playbooks themselves change through their spec (API, files, pages)."""

from django.contrib import admin

from playbooks.models import Playbook, PlaybookLogLine, PlaybookRun, PlaybookRunAction


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ["namespace", "name", "title", "category", "managed_by", "updated_at"]
    list_filter = ["category", "managed_by"]
    search_fields = ["name", "title"]
    readonly_fields = ["spec", "managed_by", "source_ref", "created_by", "updated_by"]

    def has_add_permission(self, request) -> bool:
        return False  # a spec is validated by the one write path, not by a raw JSON field


class ActionInline(admin.TabularInline):
    model = PlaybookRunAction
    extra = 0
    can_delete = False
    fields = ["position", "name", "kind", "attempt", "status", "error", "started_at",
              "finished_at"]
    readonly_fields = fields


@admin.register(PlaybookRun)
class PlaybookRunAdmin(admin.ModelAdmin):
    list_display = ["id", "playbook", "status", "trigger", "created_by", "created_at"]
    list_filter = ["status", "trigger"]
    raw_id_fields = ["playbook", "config", "parent_run", "created_by", "event"]
    inlines = [ActionInline]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False  # runs start through the engine, which checks parameters and targets


@admin.register(PlaybookLogLine)
class PlaybookLogLineAdmin(admin.ModelAdmin):
    list_display = ["run", "seq", "stream", "level", "line"]
    raw_id_fields = ["run", "action"]
    show_full_result_count = False
