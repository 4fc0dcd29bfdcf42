"""The survey designer: server-rendered pages for CX teams (designers and admins edit; others read).

Thin views: a form validates the shape, one service does the work, and a
service error comes back onto the form. The preview renders the real public
form template for any language and step, and stores nothing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from config.errors import ApplicationError
from surveys import selectors, services
from surveys.answering import small_int
from surveys.forms import InvitationSendForm, QuestionAddForm, QuestionEditForm, SurveyCreateForm, TranslationForm
from surveys.invitations import invitations_create
from surveys.models import Answer, Invitation, Question, Survey
from surveys.texts import missing_texts, text_for
from surveys.views import question_context, ui_language
from touchpoints import selectors as touchpoint_selectors
from touchpoints.models import Role
from touchpoints.permissions import workspace_member_required


def _survey(request: HttpRequest, survey_id: int) -> Survey:
    return get_object_or_404(selectors.survey_list(workspace=request.workspace), pk=survey_id)


def _detail_url(survey_id: int, anchor: str = "") -> str:
    url = reverse("surveys:detail", args=[survey_id])
    return f"{url}#{anchor}" if anchor else url


def _run(request: HttpRequest, call: Any, success: str) -> bool:
    """Run a service for a button (no form): its error becomes a message."""
    try:
        call()
    except ApplicationError as error:
        messages.error(request, error.message)
        return False
    messages.success(request, success)
    return True


@workspace_member_required()
def survey_list(request: HttpRequest) -> HttpResponse:
    surveys = selectors.survey_list(workspace=request.workspace).order_by("status", "name")
    form = SurveyCreateForm(request.POST or None)
    if request.method == "POST":
        if not Role.can_write(request.membership.role):
            return render(request, "403.html", status=403)
        if form.is_valid():
            data = form.cleaned_data
            if data["template"]:
                survey = form.run_service(
                    lambda: services.survey_create_from_template(
                        workspace=request.workspace, template=data["template"], name=data["name"]
                    )
                )
            else:
                survey = form.run_service(
                    lambda: services.survey_create(workspace=request.workspace, name=data["name"], kind=data["kind"])
                )
            if survey is not None:
                messages.success(request, _("Survey “%(name)s” created.") % {"name": survey.name})
                return redirect(_detail_url(survey.pk))
    status = 400 if form.errors else 200
    return render(request, "surveys/designer/survey_list.html", {"surveys": surveys, "form": form}, status=status)


@workspace_member_required()
def survey_detail(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(request, survey_id)
    questions = list(selectors.question_list(workspace=request.workspace).filter(survey=survey).order_by("order"))
    live = [question for question in questions if not question.is_archived]
    default = survey.default_language
    for question in questions:
        question.display_text = text_for(question.texts, "text", default, default)
        question.condition_text = (
            text_for(question.condition_question.texts, "text", default, default) if question.condition_question else ""
        )
    form = QuestionAddForm(request.POST or None, survey=survey, prefix="new")
    if request.method == "POST":
        if not Role.can_write(request.membership.role):
            return render(request, "403.html", status=403)
        if form.is_valid():
            question = form.run_service(
                lambda: services.question_add(workspace=request.workspace, survey_id=survey.pk, **form.service_data())
            )
            if question is not None:
                messages.success(request, _("Question added."))
                return redirect(_detail_url(survey.pk, f"question-{question.pk}"))
    context = {
        "survey": survey,
        "questions": questions,
        "form": form,
        "missing": missing_texts(languages=survey.languages, survey_texts=survey.texts, questions=live),
        "title": text_for(survey.texts, "title", default, default),
    }
    return render(request, "surveys/designer/survey_detail.html", context, status=400 if form.errors else 200)


@require_POST
@workspace_member_required(write=True)
def survey_action(request: HttpRequest, survey_id: int, action: str) -> HttpResponse:
    survey = _survey(request, survey_id)
    ws = request.workspace
    actions = {
        "publish": (lambda: services.survey_publish(workspace=ws, survey_id=survey.pk), _("Survey published.")),
        "archive": (lambda: services.survey_archive(workspace=ws, survey_id=survey.pk), _("Survey archived.")),
    }
    if action not in actions:
        raise Http404
    call, success = actions[action]
    _run(request, call, success)
    return redirect(_detail_url(survey.pk))


@require_POST
@workspace_member_required(write=True)
def question_action(request: HttpRequest, question_id: int, action: str) -> HttpResponse:
    question = get_object_or_404(Question.objects.for_workspace(request.workspace), pk=question_id)
    ws = request.workspace

    def move(offset: int) -> None:
        ids = list(question.survey.questions.order_by("order").values_list("pk", flat=True))
        position = ids.index(question.pk)
        target = min(max(position + offset, 0), len(ids) - 1)
        ids.insert(target, ids.pop(position))
        services.question_reorder(workspace=ws, survey_id=question.survey_id, question_ids=ids)

    actions = {
        "up": (lambda: move(-1), _("Question moved.")),
        "down": (lambda: move(1), _("Question moved.")),
        "archive": (lambda: services.question_archive(workspace=ws, question_id=question.pk), _("Question archived.")),
        "delete": (lambda: services.question_delete(workspace=ws, question_id=question.pk), _("Question deleted.")),
    }
    if action not in actions:
        raise Http404
    call, success = actions[action]
    _run(request, call, success)
    return redirect(_detail_url(question.survey_id))


@workspace_member_required()
def survey_translations(request: HttpRequest, survey_id: int, language: str) -> HttpResponse:
    """Every text in one language beside the default language's; saving keeps the other languages."""
    survey = _survey(request, survey_id)
    if language not in survey.languages:
        raise Http404
    questions = list(survey.questions.filter(is_archived=False).order_by("order"))
    form = TranslationForm(request.POST or None, survey=survey, questions=questions, language=language)
    if request.method == "POST":
        if not Role.can_write(request.membership.role):
            return render(request, "403.html", status=403)
        if form.is_valid():
            try:
                _save_translations(request, survey, questions, language, form)
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Translations saved."))
                return redirect(reverse("surveys:translations", args=[survey.pk, language]))
    context = {"survey": survey, "form": form, "language": language, "default": survey.default_language}
    return render(request, "surveys/designer/translations.html", context, status=400 if form.errors else 200)


def _save_translations(
    request: HttpRequest, survey: Survey, questions: list[Question], language: str, form: TranslationForm
) -> None:
    texts = {**survey.texts, language: {k: v for k, v in form.survey_texts().items() if v}}
    services.survey_update(workspace=request.workspace, survey_id=survey.pk, data={"texts": texts})
    for question in questions:
        question_texts = {**question.texts, language: {k: v for k, v in form.question_texts(question).items() if v}}
        data: dict[str, Any] = {"texts": question_texts}
        options = form.question_options(question)
        if options is not None:
            data["options"] = options
        services.question_update(workspace=request.workspace, question_id=question.pk, data=data)


@require_GET
@workspace_member_required()
def survey_preview(request: HttpRequest, survey_id: int, language: str) -> HttpResponse:
    """The real public form for one language and step (``?step=2``); nothing is stored."""
    survey = _survey(request, survey_id)
    if language not in survey.languages:
        raise Http404
    questions = list(survey.questions.filter(is_archived=False).order_by("order"))
    if not questions:
        raise Http404
    step = request.GET.get("step", "1")
    index = min(max(small_int(step) or 1, 1), len(questions)) - 1
    question = questions[index]
    default = survey.default_language
    context = {
        "language": language,
        "title": text_for(survey.texts, "title", language, default),
        "intro": text_for(survey.texts, "intro", language, default) if index == 0 else "",
        **question_context(question, language, default, selected=[]),
        "preview": {
            "survey": survey,
            "step": index + 1,
            "count": len(questions),
            "languages": survey.languages,
            "language": language,
        },
    }
    with translation.override(ui_language(language)):
        return render(request, "surveys/form.html", context)


@workspace_member_required(write=True)
def question_edit(request: HttpRequest, question_id: int) -> HttpResponse:
    """Type, default-language texts, options, required flag and display condition of one question."""
    question = get_object_or_404(
        Question.objects.for_workspace(request.workspace).select_related("survey"), pk=question_id, is_archived=False
    )
    has_answers = Answer.objects.filter(question=question).exists()
    form = QuestionEditForm(request.POST or None, question=question, has_answers=has_answers, prefix="q")
    if request.method == "POST" and form.is_valid():
        saved = form.run_service(
            lambda: services.question_update(
                workspace=request.workspace, question_id=question.pk, data=form.service_data()
            )
        )
        if saved is not None:
            messages.success(request, _("Question saved."))
            return redirect(_detail_url(question.survey_id, f"question-{question.pk}"))
    context = {
        "form": form,
        "title": _("Edit question %(order)d") % {"order": question.order},
        "action": reverse("surveys:question-edit", args=[question.pk]),
        "back_url": _detail_url(question.survey_id, f"question-{question.pk}"),
    }
    return render(request, "touchpoints/form_page.html", context, status=400 if form.errors else 200)


#: Invitations shown per page on a survey's invitations page.
INVITATIONS_PER_PAGE = 50


@workspace_member_required()
def survey_invitations(request: HttpRequest, survey_id: int) -> HttpResponse:
    """A survey's invitations, newest first, and (designers, admins) a manual send to a list of customers."""
    survey = _survey(request, survey_id)
    can_send = Role.can_write(request.membership.role)
    touchpoints = list(
        touchpoint_selectors.touchpoint_list(workspace=request.workspace).select_related("stage__journey")
    )
    form = InvitationSendForm(request.POST or None, survey=survey, touchpoints=touchpoints)
    if request.method == "POST":
        if not can_send:
            return render(request, "403.html", status=403)
        if form.is_valid():
            created = form.run_service(
                lambda: invitations_create(
                    workspace=request.workspace,
                    survey_id=survey.pk,
                    customer_external_ids=form.external_ids(),
                    channel=form.cleaned_data["channel"],
                    language=form.cleaned_data["language"],
                    touchpoint_id=form.cleaned_data["touchpoint"],
                )
            )
            if created is not None:
                count = len(created)
                messages.success(
                    request,
                    ngettext("%(count)d invitation created.", "%(count)d invitations created.", count)
                    % {"count": count},
                )
                return redirect(reverse("surveys:invitations", args=[survey.pk]))
    invitations = (
        selectors.invitation_list(workspace=request.workspace).filter(survey=survey).order_by("-created_at", "-id")
    )
    page = Paginator(invitations, INVITATIONS_PER_PAGE).get_page(request.GET.get("page"))
    counts = dict(
        selectors.invitation_list(workspace=request.workspace)
        .filter(survey=survey)
        .order_by()
        .values_list("status")
        .annotate(count=Count("id"))
    )
    context = {
        "survey": survey,
        "form": form,
        "can_send": can_send and survey.status == Survey.Status.ACTIVE,
        "show_links": can_send,
        "page": page,
        "counts": [(label, counts.get(value, 0)) for value, label in Invitation.Status.choices],
    }
    return render(request, "surveys/designer/invitations.html", context, status=400 if form.errors else 200)
