"""Read-only admin for the rollups and their state: derived data, rebuilt rather than edited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import AnswerRollup, AnswerTouchpointRollup, InvitationRollup, RollupState


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
