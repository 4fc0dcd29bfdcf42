"""Server-rendered journey pages: list, create, the journey map and its in-place edits.

Every view is thin: a form validates the shape, one service does the work, and a
service error comes back onto the form beside its field. Edits on the map page
post to small endpoints that redirect back to the map (to the edited item's
anchor); when an edit is invalid, the endpoint shows the form on its own page
with the errors (status 400), so nothing typed is lost.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from touchpoints import selectors, services
from touchpoints.forms import (
    DeliverySettingsForm,
    EmbedSettingsForm,
    EventNameMapForm,
    JourneyCreateForm,
    JourneyForm,
    ServiceForm,
    StageForm,
    TouchpointForm,
    WorkspaceSwitchForm,
)
from touchpoints.models import Role, Stage, Touchpoint
from touchpoints.permissions import SESSION_WORKSPACE_KEY, workspace_member_required
from touchpoints.selectors import membership_list_for_user


def _map_url(journey_id: int, anchor: str = "") -> str:
    url = reverse("touchpoints:journey-map", args=[journey_id])
    return f"{url}#{anchor}" if anchor else url


def _form_page(
    request: HttpRequest, form: ServiceForm, *, title: str, action: str, back_url: str, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "touchpoints/form_page.html",
        {"form": form, "title": title, "action": action, "back_url": back_url},
        status=status,
    )


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("touchpoints:journey-list")
    return redirect("login")


@require_POST
@workspace_member_required()
def workspace_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's workspaces the current one."""
    form = WorkspaceSwitchForm(request.POST)
    chosen = None
    if form.is_valid():
        memberships = membership_list_for_user(user=request.user)
        chosen = memberships.filter(workspace_id=form.cleaned_data["workspace"]).first()
    if chosen is None:
        messages.error(request, _("You are not a member of that workspace."))
    else:
        request.session[SESSION_WORKSPACE_KEY] = chosen.workspace_id
        messages.success(request, _("Switched to %(workspace)s.") % {"workspace": chosen.workspace.name})
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = reverse("touchpoints:journey-list")
    return HttpResponseRedirect(next_url)


@require_GET
@workspace_member_required()
def journey_list(request: HttpRequest) -> HttpResponse:
    journeys = selectors.journey_list(workspace=request.workspace).order_by("-is_active", "name")
    return render(request, "touchpoints/journey_list.html", {"journeys": journeys})


@workspace_member_required(write=True)
def journey_create(request: HttpRequest) -> HttpResponse:
    form = JourneyCreateForm(request.POST or None, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        journey = form.run_service(lambda: services.journey_create(workspace=request.workspace, **form.service_data()))
        if journey is not None:
            messages.success(request, _("Journey “%(name)s” created.") % {"name": journey.name})
            return redirect(_map_url(journey.pk))
    return _form_page(
        request,
        form,
        title=_("New journey"),
        action=reverse("touchpoints:journey-create"),
        back_url=reverse("touchpoints:journey-list"),
        status=400 if form.errors else 200,
    )


@require_GET
@workspace_member_required()
def journey_map(request: HttpRequest, journey_id: int) -> HttpResponse:
    """The journey map: stages as columns in order, touchpoints as cards, personas beside."""
    journey = get_object_or_404(selectors.journey_map_queryset(workspace=request.workspace), pk=journey_id)
    stages = list(journey.stages.all())
    can_edit = Role.can_write(request.membership.role)
    if can_edit:
        for stage in stages:
            stage.edit_form = StageForm(
                initial={"name": stage.name, "description": stage.description}, prefix=f"stage-{stage.pk}"
            )
            stage.new_touchpoint_form = TouchpointForm(prefix=f"new-touchpoint-{stage.pk}")
            for touchpoint in stage.touchpoints.all():
                touchpoint.edit_form = TouchpointForm(
                    initial=_touchpoint_initial(touchpoint), prefix=f"touchpoint-{touchpoint.pk}"
                )
    context = {
        "journey": journey,
        "stages": stages,
        "personas": journey.personas.all(),
        "new_stage_form": StageForm(prefix="new-stage") if can_edit else None,
    }
    return render(request, "touchpoints/journey_map.html", context)


@workspace_member_required(write=True)
def journey_edit(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey = get_object_or_404(selectors.journey_list(workspace=request.workspace), pk=journey_id)
    initial = {
        "name": journey.name,
        "description": journey.description,
        "map_type": journey.map_type,
        "is_active": journey.is_active,
        "persona_ids": [persona.pk for persona in journey.personas.all()],
    }
    form = JourneyForm(request.POST or None, initial=initial, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        updated = form.run_service(
            lambda: services.journey_update(
                workspace=request.workspace, journey_id=journey.pk, data=form.service_data()
            ),
        )
        if updated is not None:
            messages.success(request, _("Journey saved."))
            return redirect(_map_url(journey.pk))
    return _form_page(
        request,
        form,
        title=_("Edit journey “%(name)s”") % {"name": journey.name},
        action=reverse("touchpoints:journey-edit", args=[journey.pk]),
        back_url=_map_url(journey.pk),
        status=400 if form.errors else 200,
    )


@require_POST
@workspace_member_required(write=True)
def journey_delete(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey = get_object_or_404(selectors.journey_list(workspace=request.workspace), pk=journey_id)
    services.journey_delete(workspace=request.workspace, journey_id=journey.pk)
    messages.success(request, _("Journey “%(name)s” deleted.") % {"name": journey.name})
    return redirect("touchpoints:journey-list")


# --- Stages ----------------------------------------------------------------------------


def _workspace_stage(request: HttpRequest, stage_id: int) -> Stage:
    return get_object_or_404(selectors.stage_list(workspace=request.workspace), pk=stage_id)


@require_POST
@workspace_member_required(write=True)
def stage_create(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey = get_object_or_404(selectors.journey_list(workspace=request.workspace), pk=journey_id)
    form = StageForm(request.POST, prefix="new-stage")
    if form.is_valid():
        stage = form.run_service(
            lambda: services.stage_create(workspace=request.workspace, journey_id=journey.pk, **form.cleaned_data),
        )
        if stage is not None:
            messages.success(request, _("Stage “%(name)s” added.") % {"name": stage.name})
            return redirect(_map_url(journey.pk, f"stage-{stage.pk}"))
    return _form_page(
        request,
        form,
        title=_("New stage"),
        action=reverse("touchpoints:stage-create", args=[journey.pk]),
        back_url=_map_url(journey.pk),
        status=400,
    )


@workspace_member_required(write=True)
def stage_edit(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = _workspace_stage(request, stage_id)
    initial = {"name": stage.name, "description": stage.description}
    form = StageForm(request.POST or None, initial=initial, prefix=f"stage-{stage.pk}")
    if request.method == "POST" and form.is_valid():
        saved = form.run_service(
            lambda: services.stage_update(workspace=request.workspace, stage_id=stage.pk, data=form.cleaned_data),
        )
        if saved is not None:
            messages.success(request, _("Stage saved."))
            return redirect(_map_url(stage.journey_id, f"stage-{stage.pk}"))
    return _form_page(
        request,
        form,
        title=_("Edit stage “%(name)s”") % {"name": stage.name},
        action=reverse("touchpoints:stage-edit", args=[stage.pk]),
        back_url=_map_url(stage.journey_id),
        status=400 if form.errors else 200,
    )


@require_POST
@workspace_member_required(write=True)
def stage_move(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = _workspace_stage(request, stage_id)
    offset = -1 if request.POST.get("direction") == "left" else 1
    services.stage_move(workspace=request.workspace, stage_id=stage.pk, offset=offset)
    return redirect(_map_url(stage.journey_id, f"stage-{stage.pk}"))


@require_POST
@workspace_member_required(write=True)
def stage_delete(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = _workspace_stage(request, stage_id)
    services.stage_delete(workspace=request.workspace, stage_id=stage.pk)
    messages.success(request, _("Stage “%(name)s” deleted.") % {"name": stage.name})
    return redirect(_map_url(stage.journey_id))


# --- Touchpoints ------------------------------------------------------------------------


def _touchpoint_initial(touchpoint: Touchpoint) -> dict[str, Any]:
    return {
        "name": touchpoint.name,
        "channel": touchpoint.channel,
        "customer_does": touchpoint.customer_does,
        "customer_thinks": touchpoint.customer_thinks,
        "customer_feels": touchpoint.customer_feels,
        "owner_team": touchpoint.owner_team,
        "event_names": ", ".join(event.name for event in touchpoint.event_names.all()),
    }


@workspace_member_required(write=True)
def touchpoint_create(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = _workspace_stage(request, stage_id)
    form = TouchpointForm(request.POST or None, prefix=f"new-touchpoint-{stage.pk}")
    if request.method == "POST" and form.is_valid():
        touchpoint = form.run_service(
            lambda: services.touchpoint_create(workspace=request.workspace, stage_id=stage.pk, **form.cleaned_data),
        )
        if touchpoint is not None:
            messages.success(request, _("Touchpoint “%(name)s” added.") % {"name": touchpoint.name})
            return redirect(_map_url(stage.journey_id, f"touchpoint-{touchpoint.pk}"))
    return _form_page(
        request,
        form,
        title=_("New touchpoint in “%(stage)s”") % {"stage": stage.name},
        action=reverse("touchpoints:touchpoint-create", args=[stage.pk]),
        back_url=_map_url(stage.journey_id),
        status=400 if form.errors else 200,
    )


@workspace_member_required(write=True)
def touchpoint_edit(request: HttpRequest, touchpoint_id: int) -> HttpResponse:
    touchpoint = get_object_or_404(selectors.touchpoint_list(workspace=request.workspace), pk=touchpoint_id)
    journey_id = touchpoint.journey_id
    form = TouchpointForm(
        request.POST or None, initial=_touchpoint_initial(touchpoint), prefix=f"touchpoint-{touchpoint.pk}"
    )
    if request.method == "POST" and form.is_valid():
        saved = form.run_service(
            lambda: services.touchpoint_update(
                workspace=request.workspace, touchpoint_id=touchpoint.pk, data=form.cleaned_data
            ),
        )
        if saved is not None:
            messages.success(request, _("Touchpoint saved."))
            return redirect(_map_url(journey_id, f"touchpoint-{touchpoint.pk}"))
    return _form_page(
        request,
        form,
        title=_("Edit touchpoint “%(name)s”") % {"name": touchpoint.name},
        action=reverse("touchpoints:touchpoint-edit", args=[touchpoint.pk]),
        back_url=_map_url(journey_id),
        status=400 if form.errors else 200,
    )


@require_POST
@workspace_member_required(write=True)
def touchpoint_delete(request: HttpRequest, touchpoint_id: int) -> HttpResponse:
    touchpoint = get_object_or_404(selectors.touchpoint_list(workspace=request.workspace), pk=touchpoint_id)
    services.touchpoint_delete(workspace=request.workspace, touchpoint_id=touchpoint.pk)
    messages.success(request, _("Touchpoint “%(name)s” deleted.") % {"name": touchpoint.name})
    return redirect(_map_url(touchpoint.journey_id, f"stage-{touchpoint.stage_id}"))


@workspace_member_required(admin=True)
def workspace_embed(request: HttpRequest) -> HttpResponse:
    """Admins: the sites allowed to embed surveys, the identity secret, and the snippet to paste."""
    workspace = request.workspace
    form = EmbedSettingsForm(
        request.POST if request.POST.get("action") == "origins" else None,
        initial={"origins": "\n".join(workspace.embed_origins)},
    )
    if request.method == "POST":
        if request.POST.get("action") == "rotate":
            services.workspace_identity_secret_rotate(workspace=workspace)
            messages.success(request, _("A new identity secret is in use; update it on your servers."))
            return redirect("touchpoints:workspace-embed")
        if form.is_valid() and form.run_service(
            lambda: services.workspace_embed_update(workspace=workspace, origins=form.service_data())
        ):
            messages.success(request, _("Embed origins saved."))
            return redirect("touchpoints:workspace-embed")
    context = {
        "form": form,
        "workspace": workspace,
        "embed_url": request.build_absolute_uri(static("surveys/embed.js")),
    }
    return render(request, "touchpoints/embed_settings.html", context, status=400 if form.errors else 200)


@workspace_member_required(admin=True)
def workspace_delivery(request: HttpRequest) -> HttpResponse:
    """Admins: the contact policy, the webhook URL, its signing secret and how to check a signature."""
    workspace = request.workspace
    action = request.POST.get("action")
    form = DeliverySettingsForm(
        request.POST if action == "save" else None,
        initial={"contact_policy_days": workspace.contact_policy_days, "webhook_url": workspace.webhook_url},
    )
    if request.method == "POST":
        if action == "rotate":
            services.workspace_webhook_secret_rotate(workspace=workspace)
            messages.success(request, _("A new webhook secret is in use; update it on your servers."))
            return redirect("touchpoints:workspace-delivery")
        if form.is_valid() and form.run_service(
            lambda: services.workspace_delivery_update(workspace=workspace, **form.cleaned_data)
        ):
            messages.success(request, _("Delivery settings saved."))
            return redirect("touchpoints:workspace-delivery")
    context = {"form": form, "workspace": workspace}
    return render(request, "touchpoints/delivery_settings.html", context, status=400 if form.errors else 200)


#: Event names per page on the events page.
EVENT_NAMES_PER_PAGE = 50


@workspace_member_required()
def event_names(request: HttpRequest) -> HttpResponse:
    """Event names received, with counts; designers and admins map the unmapped ones to touchpoints."""
    workspace = request.workspace
    can_edit = Role.can_write(request.membership.role)
    touchpoints = list(selectors.touchpoint_list(workspace=workspace).select_related("stage__journey"))
    form = EventNameMapForm(request.POST or None, touchpoints=touchpoints)
    if request.method == "POST":
        if not can_edit:
            return render(request, "403.html", status=403)
        if form.is_valid() and form.run_service(
            lambda: services.event_name_map(
                workspace=workspace, name=form.cleaned_data["name"], touchpoint_id=form.cleaned_data["touchpoint"]
            ),
        ):
            messages.success(request, _("“%(name)s” now means this touchpoint happened.") % form.cleaned_data)
            return redirect(reverse("touchpoints:event-names") + "?mapped=false")
    mapped = request.GET.get("mapped", "")
    stats = selectors.event_name_stats(
        workspace=workspace, mapped=None if mapped not in ("true", "false") else mapped == "true"
    )
    page = Paginator(stats, EVENT_NAMES_PER_PAGE).get_page(request.GET.get("page"))
    by_id = {touchpoint.pk: touchpoint for touchpoint in touchpoints}
    rows = [{**row, "touchpoint": by_id.get(row["mapped_touchpoint_id"])} for row in page]
    context = {"page": page, "rows": rows, "form": form, "can_edit": can_edit, "mapped": mapped}
    return render(request, "touchpoints/event_names.html", context, status=400 if form.errors else 200)
