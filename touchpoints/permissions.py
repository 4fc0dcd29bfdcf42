"""Who may do what, for the API and for the pages.

The workspace always comes from the credential: a secret API key's own workspace,
or, for a browser session, the workspace picked with the switcher (its id is kept
in the session and checked against the user's memberships on every request, so a
stale or forged id falls back to their first workspace).

- API: :class:`HasWorkspaceRole`, the default permission of every API view, sets
  ``request.workspace`` and ``request.role``; every role reads, admins and
  designers write.
- Pages: :func:`workspace_member_required` does the same for a view function.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.request import Request

from touchpoints.models import ApiKey, Membership, Role
from touchpoints.selectors import membership_for_user

if TYPE_CHECKING:  # rest_framework.views imports this module through DRF's settings
    from rest_framework.views import APIView

SESSION_WORKSPACE_KEY = "workspace_id"
WRITE_ROLES = (Role.ADMIN, Role.DESIGNER)


def session_membership(request: HttpRequest) -> Membership | None:
    """The signed-in user's membership in their current workspace, if any."""
    return membership_for_user(user=request.user, workspace_id=request.session.get(SESSION_WORKSPACE_KEY))


def resolve_workspace(request: Request) -> bool:
    """Set ``request.workspace`` and ``request.role`` from the credential.

    Returns False when the caller has no workspace to act in: no membership, or a
    write key (which may only ingest events).
    """
    if isinstance(request.auth, ApiKey):
        request.workspace = request.auth.workspace
        request.role = request.auth.role or None
        return request.auth.kind == ApiKey.Kind.SECRET
    membership = session_membership(request)
    if membership is None:
        return False
    request.workspace = membership.workspace
    request.role = membership.role
    return True


class HasWorkspaceRole(permissions.BasePermission):
    """Every role reads; only the view's ``write_roles`` (default: admin, designer) write."""

    message = _("You do not have permission to do this in this workspace.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if not resolve_workspace(request):
            if isinstance(request.auth, ApiKey):
                self.message = _("A write key can only send events; use a secret key.")
            else:
                self.message = _("You are not a member of any workspace.")
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.role in getattr(view, "write_roles", WRITE_ROLES)


def workspace_member_required(
    *, write: bool = False, admin: bool = False
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Page decorator: sign-in, a membership (sets ``request.membership``/``workspace``), a role.

    With ``write=True`` only admins and designers pass, with ``admin=True`` only
    admins; others get a 403 page.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = session_membership(request)
            if membership is None:
                return render(request, "touchpoints/no_workspace.html", status=403)
            request.membership = membership  # type: ignore[attr-defined]
            request.workspace = membership.workspace  # type: ignore[attr-defined]
            if (write and membership.role not in WRITE_ROLES) or (admin and membership.role != Role.ADMIN):
                return render(request, "403.html", status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
