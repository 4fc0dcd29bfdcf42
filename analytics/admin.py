"""Read-only admin for the rollups and their state (derived data, rebuilt rather than edited), and for the
closed loop's flags, cases and runs (changed through the follow-up pages and API, which record history)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import (
    AnswerRollup,
    AnswerSegmentRollup,
    AnswerTouchpointRollup,
    CaseNote,
    DetractorSweep,
    DigestDelivery,
    FollowUpCase,
    FrictionFlagRecord,
    InvitationRollup,
    ReportSettings,
    RollupState,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    # The rollup tables grow large: no COUNT(*) of the whole table on every page.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AnswerRollup)
class AnswerRollupAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "workspace",
        "touchpoint",
        "survey",
        "channel",
        "language",
        "persona",
        "question_type",
        "score",
        "n",
    ]
    list_filter = ["workspace", "question_type", "channel"]
    list_select_related = ["workspace", "touchpoint", "survey"]
    date_hierarchy = "day"


@admin.register(AnswerSegmentRollup)
class AnswerSegmentRollupAdmin(ReadOnlyAdmin):
    list_display = ["day", "workspace", "touchpoint", "survey", "channel", "persona", "question_type", "score", "n"]
    list_filter = ["workspace", "question_type", "channel"]
    list_select_related = ["workspace", "touchpoint", "survey"]
    date_hierarchy = "day"


@admin.register(AnswerTouchpointRollup)
class AnswerTouchpointRollupAdmin(ReadOnlyAdmin):
    list_display = ["day", "workspace", "touchpoint", "survey", "question_type", "score", "n"]
    list_filter = ["workspace", "question_type"]
    list_select_related = ["workspace", "touchpoint", "survey"]
    date_hierarchy = "day"


@admin.register(InvitationRollup)
class InvitationRollupAdmin(ReadOnlyAdmin):
    list_display = ["day", "workspace", "touchpoint", "survey", "channel", "language", "persona", "sent", "answered"]
    list_filter = ["workspace", "channel"]
    list_select_related = ["workspace", "touchpoint", "survey"]
    date_hierarchy = "day"


@admin.register(RollupState)
class RollupStateAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "complete_until", "refreshed_at"]
    list_select_related = ["workspace"]


@admin.register(FrictionFlagRecord)
class FrictionFlagRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "kind",
        "severity",
        "level",
        "unit_id",
        "journey",
        "stage",
        "first_seen_at",
        "resolved_at",
        "alerted_at",
    ]
    list_filter = ["workspace", "kind", "severity", "level"]
    list_select_related = ["journey", "stage"]
    date_hierarchy = "first_seen_at"


class CaseNoteInline(admin.TabularInline):
    model = CaseNote
    fields = ["created_at", "kind", "author_label", "text", "changes"]
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FollowUpCase)
class FollowUpCaseAdmin(ReadOnlyAdmin):
    list_display = ["id", "workspace", "source", "status", "owner_team", "assignee", "due_at", "opened_at", "closed_at"]
    list_filter = ["workspace", "source", "status"]
    list_select_related = ["workspace", "assignee"]
    date_hierarchy = "opened_at"
    inlines = [CaseNoteInline]


@admin.register(CaseNote)
class CaseNoteAdmin(ReadOnlyAdmin):
    list_display = ["case", "kind", "author_label", "created_at"]
    list_filter = ["workspace", "kind"]
    list_select_related = ["case"]


@admin.register(DetractorSweep)
class DetractorSweepAdmin(ReadOnlyAdmin):
    list_display = ["swept_through_id", "checkpoint_id", "checkpoint_at", "updated_at"]


@admin.register(DigestDelivery)
class DigestDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["workspace", "week_start", "sent_at", "recipients"]
    list_filter = ["workspace"]
    list_select_related = ["workspace"]


@admin.register(ReportSettings)
class ReportSettingsAdmin(ReadOnlyAdmin):
    """Read-only: admins change their thresholds on /settings/reports/ or through the API (the service checks them)."""

    list_display = ["workspace", "ces_threshold", "low_response_percent", "updated_at"]
    list_select_related = ["workspace"]
