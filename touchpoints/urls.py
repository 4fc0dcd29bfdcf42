"""Pages of the touchpoints app."""

from django.urls import path

from touchpoints import views

app_name = "touchpoints"

urlpatterns = [
    path("", views.home, name="home"),
    path("workspaces/switch/", views.workspace_switch, name="workspace-switch"),
    path("events/", views.event_names, name="event-names"),
    path("settings/embed/", views.workspace_embed, name="workspace-embed"),
    path("settings/delivery/", views.workspace_delivery, name="workspace-delivery"),
    path("journeys/", views.journey_list, name="journey-list"),
    path("journeys/new/", views.journey_create, name="journey-create"),
    path("journeys/<int:journey_id>/", views.journey_map, name="journey-map"),
    path("journeys/<int:journey_id>/edit/", views.journey_edit, name="journey-edit"),
    path("journeys/<int:journey_id>/delete/", views.journey_delete, name="journey-delete"),
    path("journeys/<int:journey_id>/stages/new/", views.stage_create, name="stage-create"),
    path("stages/<int:stage_id>/edit/", views.stage_edit, name="stage-edit"),
    path("stages/<int:stage_id>/move/", views.stage_move, name="stage-move"),
    path("stages/<int:stage_id>/delete/", views.stage_delete, name="stage-delete"),
    path("stages/<int:stage_id>/touchpoints/new/", views.touchpoint_create, name="touchpoint-create"),
    path("touchpoints/<int:touchpoint_id>/edit/", views.touchpoint_edit, name="touchpoint-edit"),
    path("touchpoints/<int:touchpoint_id>/delete/", views.touchpoint_delete, name="touchpoint-delete"),
]
