"""Pages of the survey designer."""

from django.urls import path

from surveys import designer, trigger_views

app_name = "surveys"

urlpatterns = [
    path("surveys/", designer.survey_list, name="list"),
    path("surveys/<int:survey_id>/", designer.survey_detail, name="detail"),
    path("surveys/<int:survey_id>/invitations/", designer.survey_invitations, name="invitations"),
    path("surveys/<int:survey_id>/<str:action>/", designer.survey_action, name="action"),
    path("surveys/<int:survey_id>/translations/<str:language>/", designer.survey_translations, name="translations"),
    path("surveys/<int:survey_id>/preview/<str:language>/", designer.survey_preview, name="preview"),
    path("questions/<int:question_id>/edit/", designer.question_edit, name="question-edit"),
    path("questions/<int:question_id>/<str:action>/", designer.question_action, name="question-action"),
    path("triggers/", trigger_views.trigger_map, name="triggers"),
    path("triggers/rules/new/", trigger_views.rule_create, name="rule-create"),
    path("triggers/rules/<int:rule_id>/", trigger_views.rule_edit, name="rule-edit"),
    path("triggers/rules/<int:rule_id>/delete/", trigger_views.rule_delete, name="rule-delete"),
]
