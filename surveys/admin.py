"""Django admin for surveys, questions, trigger rules and decisions, invitations, responses and answers."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from surveys.models import Answer, Invitation, Question, Response, Survey, TriggerDecision, TriggerRule
from touchpoints.admin import TenantAdmin


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0
    fields = ["order", "type", "is_required", "is_archived"]
    readonly_fields = ["type"]
    show_change_link = True


@admin.register(Survey)
class SurveyAdmin(TenantAdmin):
    list_display = ["name", "workspace", "kind", "status", "default_language", "updated_at"]
    list_filter = ["workspace", "kind", "status"]
    search_fields = ["name"]
    inlines = [QuestionInline]


@admin.register(Question)
class QuestionAdmin(TenantAdmin):
    workspace_parent = "survey"
    list_display = ["__str__", "survey", "type", "is_required", "is_archived"]
    list_filter = ["workspace", "type", "is_archived"]
    search_fields = ["survey__name"]
    list_select_related = ["survey"]


@admin.register(Invitation)
class InvitationAdmin(TenantAdmin):
    list_display = ["survey", "customer", "channel", "status", "send_at", "expires_at"]
    list_filter = ["workspace", "status", "channel"]
    search_fields = ["customer__external_id", "survey__name"]
    readonly_fields = ["token", "rule", "event"]
    list_select_related = ["survey", "customer"]
    date_hierarchy = "send_at"


@admin.register(TriggerRule)
class TriggerRuleAdmin(TenantAdmin):
    workspace_parent = "survey"
    list_display = ["survey", "touchpoint", "channel", "delay_minutes", "sampling_rate", "is_active"]
    list_filter = ["workspace", "is_active", "channel"]
    search_fields = ["survey__name", "touchpoint__name"]
    list_select_related = ["survey", "touchpoint"]


@admin.register(TriggerDecision)
class TriggerDecisionAdmin(TenantAdmin):
    """The engine's log: read-only, like the events it explains."""

    list_display = ["decided_at", "rule", "customer", "event", "outcome"]
    list_filter = ["workspace", "outcome"]
    search_fields = ["customer__external_id"]
    list_select_related = ["rule", "customer", "event"]
    date_hierarchy = "decided_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0
    readonly_fields = ["question", "number", "choices", "text"]
    can_delete = False


@admin.register(Response)
class ResponseAdmin(TenantAdmin):
    list_display = ["survey", "invitation", "language", "is_complete", "started_at", "completed_at"]
    list_filter = ["workspace", "is_complete", "language"]
    search_fields = ["survey__name", "invitation__customer__external_id"]
    list_select_related = ["survey", "invitation"]
    inlines = [AnswerInline]


@admin.register(Answer)
class AnswerAdmin(TenantAdmin):
    workspace_parent = "response"
    list_display = ["response", "question", "number", "text"]
    list_filter = ["workspace"]
    search_fields = ["text"]
    list_select_related = ["response", "question"]
