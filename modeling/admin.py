"""Django admin of the modeling app. Snapshots are immutable, so their admin only shows them: no add, change or
delete (create them with the Snapshots page, the API or `manage.py snapshot create`)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from modeling.models import Snapshot, SnapshotValue


class ReadOnlyAdminMixin:
    """Every field read-only and no add, change or delete permission; viewing stays allowed."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SnapshotValueInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SnapshotValue
    fields = ("value", "fit")
    readonly_fields = ("value", "fit")
    extra = 0


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "content_hash", "n_values", "n_items", "n_judgments", "created_by", "created_at")
    search_fields = ("name", "content_hash")
    readonly_fields = (
        "name", "content_hash", "parent", "created_by", "created_at", "files_dir", "n_values", "n_items",
        "n_judgments", "manifest",
    )
    inlines = [SnapshotValueInline]
    actions = None  # the bulk "delete selected" action would bypass immutability
