"""Template context for every page: the current workspace and the switcher's choices."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from touchpoints.models import Role
from touchpoints.selectors import membership_list_for_user


def workspace(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "current_membership": membership,
        "current_workspace": membership.workspace,
        "can_edit": Role.can_write(membership.role),
        # Evaluated only by templates that render the switcher.
        "workspace_memberships": membership_list_for_user(user=request.user),
    }
