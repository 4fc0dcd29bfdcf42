"""Django admin for every touchpoints model, with search and filters.

API keys are created through :func:`touchpoints.services.apikey_create`; the raw
key is shown once in a message and never stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from touchpoints import services
from touchpoints.models import (
    ApiKey,
    Customer,
    Journey,
    Membership,
    Persona,
    Stage,
    Touchpoint,
    TouchpointEventName,
    Workspace,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "default_language", "timezone", "created_at"]
    list_filter = ["default_language"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "user__email", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]
    list_select_related = ["user", "workspace"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "workspace", "kind", "role", "last_used_at", "revoked_at"]
    list_filter = ["kind", "role", "workspace", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "workspace__name"]
    readonly_fields = ["prefix", "last_used_at", "revoked_at", "created_by", "created_at"]
    fields = ["workspace", "name", "kind", "role", *readonly_fields]
    list_select_related = ["workspace"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is not None:  # a key's workspace, kind and role never change
            return ["workspace", "kind", "role", *self.readonly_fields]
        return list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["name", "updated_at"])
            return
        api_key, raw_key = services.apikey_create(
            workspace=obj.workspace, name=obj.name, kind=obj.kind, role=obj.role, created_by=request.user
        )
        obj.pk, obj.prefix, obj.hashed_key = api_key.pk, api_key.prefix, api_key.hashed_key
        messages.warning(request, _("Copy the key now; it is not shown again: %(key)s") % {"key": raw_key})

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset.select_related("workspace"):
            services.apikey_revoke(workspace=api_key.workspace, api_key_id=api_key.pk)


class InlinesInheritWorkspaceMixin:
    """Rows added in this admin's inlines take the workspace of the object being edited."""

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for instance in formset.save(commit=False):
            instance.workspace_id = form.instance.workspace_id
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()


class WorkspaceFromParentMixin(InlinesInheritWorkspaceMixin):
    """A tenant row under a parent (``workspace_parent``) takes the parent's workspace.

    The admin never picks it, so a stage cannot end up in another workspace than its journey.
    """

    workspace_parent: str = ""

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*(super().get_exclude(request, obj) or []), "workspace"]  # type: ignore[misc]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.workspace_id = getattr(obj, self.workspace_parent).workspace_id
        super().save_model(request, obj, form, change)  # type: ignore[misc]


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "description"]


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    fields = ["order", "name", "description"]


@admin.register(Journey)
class JourneyAdmin(InlinesInheritWorkspaceMixin, admin.ModelAdmin):
    list_display = ["name", "workspace", "map_type", "is_active", "updated_at"]
    list_filter = ["workspace", "map_type", "is_active"]
    search_fields = ["name", "description"]
    filter_horizontal = ["personas"]
    inlines = [StageInline]


@admin.register(Stage)
class StageAdmin(WorkspaceFromParentMixin, admin.ModelAdmin):
    workspace_parent = "journey"
    list_display = ["name", "journey", "order", "workspace"]
    list_filter = ["workspace", "journey"]
    search_fields = ["name", "journey__name"]
    list_select_related = ["journey", "workspace"]
    ordering = ["journey", "order"]


class EventNameInline(admin.TabularInline):
    model = TouchpointEventName
    extra = 1
    fields = ["name"]


@admin.register(Touchpoint)
class TouchpointAdmin(WorkspaceFromParentMixin, admin.ModelAdmin):
    workspace_parent = "stage"
    list_display = ["name", "stage", "channel", "owner_team", "workspace"]
    list_filter = ["workspace", "channel", "stage__journey"]
    search_fields = ["name", "owner_team", "event_names__name"]
    list_select_related = ["stage", "workspace"]
    inlines = [EventNameInline]


@admin.register(TouchpointEventName)
class TouchpointEventNameAdmin(WorkspaceFromParentMixin, admin.ModelAdmin):
    workspace_parent = "touchpoint"
    list_display = ["name", "touchpoint", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["name", "touchpoint__name"]
    list_select_related = ["touchpoint", "workspace"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "email", "language", "workspace", "last_seen_at"]
    list_filter = ["workspace", "language"]
    search_fields = ["external_id", "email"]
    date_hierarchy = "last_seen_at"
