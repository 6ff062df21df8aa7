from django.contrib import admin

from portal.models import Event, EventCursor


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "object_type", "object_id", "created_at")
    list_filter = ("name",)
    search_fields = ("=object_id",)
    show_full_result_count = False


@admin.register(EventCursor)
class EventCursorAdmin(admin.ModelAdmin):
    list_display = ("consumer", "last_event_id", "updated_at")
