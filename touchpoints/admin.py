"""Django admin for every touchpoints model, with search and filters.

Tenant rows go through :class:`TenantAdmin`, which keeps the admin from mixing
workspaces: a row's workspace is chosen once (or comes from its parent), and
every related row it points at must belong to the same workspace.

API keys are created through :func:`touchpoints.services.apikey_create`; the raw
key is shown once, on the page that answers the "add" form, and never stored
(not even in the messages cookie).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
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
    TouchpointEvent,
    TouchpointEventName,
    Workspace,
)


def _is_tenant(model: type[Model]) -> bool:
    return any(field.name == "workspace" for field in model._meta.fields)


class TenantAdminForm(forms.ModelForm):
    """Refuses related rows (foreign keys, many-to-many) from another workspace."""

    workspace_parent = ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.workspace_parent:
            parent = cleaned.get(self.workspace_parent)
            workspace_id = parent.workspace_id if parent is not None else None
        elif "workspace" in cleaned:
            workspace_id = cleaned["workspace"].pk if cleaned["workspace"] else None
        else:
            workspace_id = self.instance.workspace_id
        if workspace_id is None:
            return cleaned
        for name, value in list(cleaned.items()):
            if name == "workspace":
                continue
            related = list(value) if isinstance(value, QuerySet) else [value]
            if any(
                isinstance(row, Model) and _is_tenant(type(row)) and row.workspace_id != workspace_id for row in related
            ):
                self.add_error(name, _("Choose only rows of the same workspace."))
        return cleaned


class TenantAdmin(admin.ModelAdmin):
    """A tenant row: its workspace is chosen on "add" (or taken from ``workspace_parent``)
    and never changes; related choices are limited to that workspace once it is known."""

    form = TenantAdminForm
    workspace_parent = ""

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        exclude = list(super().get_exclude(request, obj) or [])
        return [*exclude, "workspace"] if self.workspace_parent else exclude

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and not self.workspace_parent:
            readonly.append("workspace")
        return readonly

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.workspace_parent = self.workspace_parent
        if obj is not None:
            for field in form.base_fields.values():
                queryset = getattr(field, "queryset", None)
                if queryset is not None and _is_tenant(queryset.model):
                    field.queryset = queryset.filter(workspace_id=obj.workspace_id)
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if self.workspace_parent:
            obj.workspace_id = getattr(obj, self.workspace_parent).workspace_id
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Rows added in inlines take the workspace of the object being edited."""
        for instance in formset.save(commit=False):
            instance.workspace_id = form.instance.workspace_id
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()


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
class MembershipAdmin(TenantAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "user__email", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]
    list_select_related = ["user", "workspace"]


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["workspace", "name", "kind", "role"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, role = cleaned.get("kind"), cleaned.get("role")
        if kind == ApiKey.Kind.SECRET and not role:
            self.add_error("role", _("A secret key needs a role."))
        if kind == ApiKey.Kind.WRITE and role:
            self.add_error("role", _("A write key has no role: it can only send events."))
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "workspace", "kind", "role", "last_used_at", "revoked_at"]
    list_filter = ["kind", "role", "workspace", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "workspace__name"]
    readonly_fields = ["prefix", "last_used_at", "revoked_at", "created_by", "created_at"]
    fields = ["workspace", "name", "kind", "role", *readonly_fields]
    list_select_related = ["workspace"]
    actions = ["revoke"]

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

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
        request.new_raw_api_key = raw_key  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """Show the new key on this one page (the admin serves it ``no-store``); it is never shown again."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api_key": obj,
            "raw_key": request.new_raw_api_key,  # type: ignore[attr-defined]
            "title": _("Copy your new API key"),
        }
        return TemplateResponse(request, "admin/touchpoints/apikey/created.html", context)

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset.select_related("workspace"):
            services.apikey_revoke(workspace=api_key.workspace, api_key_id=api_key.pk)


@admin.register(Persona)
class PersonaAdmin(TenantAdmin):
    list_display = ["name", "workspace", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "description"]


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    fields = ["order", "name", "description"]


@admin.register(Journey)
class JourneyAdmin(TenantAdmin):
    list_display = ["name", "workspace", "map_type", "is_active", "updated_at"]
    list_filter = ["workspace", "map_type", "is_active"]
    search_fields = ["name", "description"]
    filter_horizontal = ["personas"]
    inlines = [StageInline]


@admin.register(Stage)
class StageAdmin(TenantAdmin):
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
class TouchpointAdmin(TenantAdmin):
    workspace_parent = "stage"
    list_display = ["name", "stage", "channel", "owner_team", "workspace"]
    list_filter = ["workspace", "channel", "stage__journey"]
    search_fields = ["name", "owner_team", "event_names__name"]
    list_select_related = ["stage", "workspace"]
    inlines = [EventNameInline]


@admin.register(TouchpointEventName)
class TouchpointEventNameAdmin(TenantAdmin):
    workspace_parent = "touchpoint"
    list_display = ["name", "touchpoint", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["name", "touchpoint__name"]
    list_select_related = ["touchpoint", "workspace"]


@admin.register(Customer)
class CustomerAdmin(TenantAdmin):
    list_display = ["external_id", "email", "language", "workspace", "last_seen_at"]
    list_filter = ["workspace", "language"]
    search_fields = ["external_id", "email"]
    date_hierarchy = "last_seen_at"


@admin.register(TouchpointEvent)
class TouchpointEventAdmin(TenantAdmin):
    """Events are facts: read them here, never edit them."""

    list_display = ["name", "kind", "customer", "touchpoint", "occurred_at", "evaluated_at", "workspace"]
    list_filter = ["workspace", "kind"]
    search_fields = ["name", "message_id", "customer__external_id"]
    date_hierarchy = "occurred_at"
    list_select_related = ["customer", "touchpoint", "workspace"]
    raw_id_fields = ["customer"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
