"""The public survey form, ``/s/<token>/``: what customers see.

No sign-in, no JavaScript needed, no external request. The token is the only
credential; an unknown token is a 404 that says nothing, an expired one a 410.
A GET never stores an answer (link scanners follow every link in an email); it
only records the first open. POSTs are protected by the token and an Origin
check instead of the CSRF cookie, because the form must work inside an iframe
on another site where third-party cookies are blocked.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from surveys.answering import (
    InvitationClosed,
    invitation_mark_opened,
    invitation_state,
    next_question,
    response_answer_step,
    small_int,
)
from surveys.models import SCALES, Answer, Invitation, Question, Response
from surveys.texts import option_label, text_for

#: Tokens are URL-safe base64 (secrets.token_urlsafe).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")

#: Framing is decided per workspace (its embed origins); everything else is fixed.
FORM_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
)
FORM_SECURITY_HEADERS = {
    # same-origin, not no-referrer: with no-referrer browsers post "Origin: null", failing the check
    # below; the token still never leaves in a Referer to another site.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def form_language(request: HttpRequest, invitation: Invitation) -> str:
    """Invitation, then customer, then Accept-Language, then the survey's default, among its languages."""
    survey = invitation.survey
    candidates = [invitation.language, invitation.customer.language]
    candidates += [code for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", ""))]
    for candidate in candidates:
        if not candidate:
            continue
        for code in (candidate, candidate.split("-")[0]):
            if code in survey.languages:
                return code
    return survey.default_language


def ui_language(language: str) -> str:
    """The language for our own words (buttons, errors): the survey's if we have it, else English."""
    try:
        return get_supported_language_variant(language)
    except LookupError:
        return "en"


def _page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    invitation: Invitation | None = None,
) -> HttpResponse:
    """Render a form page with its security headers.

    Only our own pages and the workspace's embed origins may frame it
    (``frame-ancestors``); an unknown token's page may be framed by nobody.
    """
    context.setdefault("is_compact", request.GET.get("compact") == "1")
    response = render(request, template, context, status=status)
    for name, value in FORM_SECURITY_HEADERS.items():
        response[name] = value
    origins = invitation.workspace.embed_origins if invitation is not None else []
    ancestors = " ".join(["'self'", *origins]) if invitation is not None else "'none'"
    response["Content-Security-Policy"] = FORM_CSP.format(ancestors=ancestors)
    # Browsers that know frame-ancestors ignore X-Frame-Options; older ones get the strict subset.
    if invitation is None:
        response["X-Frame-Options"] = "DENY"
    elif not origins:
        response["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _closed_page(request: HttpRequest, invitation: Invitation, language: str, state: str) -> HttpResponse:
    survey = invitation.survey
    context = {"language": language, "title": text_for(survey.texts, "title", language, survey.default_language)}
    if state == "expired":
        return _page(request, "surveys/form_expired.html", context, status=410, invitation=invitation)
    return _page(request, "surveys/form_answered.html", context, invitation=invitation)


def question_context(question: Question, language: str, default: str, selected: list[str]) -> dict[str, Any]:
    low, high = SCALES.get(question.type, (0, 0))
    return {
        "question": question,
        "text": text_for(question.texts, "text", language, default),
        "low_label": text_for(question.texts, "low_label", language, default),
        "high_label": text_for(question.texts, "high_label", language, default),
        "scale": [str(n) for n in range(low, high + 1)] if question.type in SCALES else [],
        "options": [
            {"key": option["key"], "label": option_label(option, language, default)} for option in question.options
        ],
        "selected": selected,
    }


@xframe_options_exempt  # _page sets the framing policy per workspace
@csrf_exempt  # protected by the unguessable token and the Origin check below; see the module docstring
@require_http_methods(["GET", "POST"])
def survey_form(request: HttpRequest, token: str) -> HttpResponse:
    # Only a well-formed token reaches the database (a NUL byte would be a PostgreSQL error).
    invitation = (
        Invitation.objects.select_related("survey", "customer", "workspace").filter(token=token).first()
        if TOKEN_SHAPE.fullmatch(token)
        else None
    )
    if invitation is None:
        return _page(request, "surveys/form_not_found.html", {"language": "en"}, status=404)
    language = form_language(request, invitation)
    with translation.override(ui_language(language)):
        if request.method == "POST":
            return _post(request, invitation, language)
        return _get(request, invitation, language)


def _get(
    request: HttpRequest, invitation: Invitation, language: str, error: str = "", values: list[str] | None = None
) -> HttpResponse:
    state = invitation_state(invitation)
    if state != "open":
        return _closed_page(request, invitation, language, state)
    invitation_mark_opened(invitation=invitation)
    survey = invitation.survey
    questions = list(survey.questions.filter(is_archived=False).order_by("order"))
    response = Response.objects.filter(invitation=invitation).first()
    answers: dict[int, Answer] = {a.question_id: a for a in response.answers.all()} if response else {}
    question = next_question(questions, answers)
    if question is None:  # every answer saved but the last write never finished: nothing left to ask
        return _closed_page(request, invitation, language, "answered")
    selected = values or []
    score = request.GET.get("score", "")
    preselected = small_int(score)
    if not selected and not answers and question.type in SCALES and preselected is not None:
        low, high = SCALES[question.type]
        selected = [str(preselected)] if low <= preselected <= high else []
    default = survey.default_language
    context = {
        "language": language,
        "title": text_for(survey.texts, "title", language, default),
        "intro": text_for(survey.texts, "intro", language, default) if not answers else "",
        "step": len(answers) + 1,
        "error": error,
        **question_context(question, language, default, selected),
    }
    return _page(request, "surveys/form.html", context, status=400 if error else 200, invitation=invitation)


def _same_origin(request: HttpRequest) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # old browsers and non-browser clients send none; the token still guards the write
        return True
    return origin == f"{request.scheme}://{request.get_host()}"


def _post(request: HttpRequest, invitation: Invitation, language: str) -> HttpResponse:
    if not _same_origin(request):
        return _page(request, "surveys/form_not_found.html", {"language": language}, status=403)
    question_id = request.POST.get("question", "")
    if not (question_id.isascii() and question_id.isdigit() and len(question_id) <= 18):  # fits a bigint
        return HttpResponseRedirect(request.path)
    raw = {"value": request.POST.getlist("value")}
    try:
        result = response_answer_step(
            invitation_id=invitation.pk, question_id=int(question_id), raw=raw, language=language
        )
    except InvitationClosed as closed:
        return _closed_page(request, invitation, language, closed.reason)
    if result.error:
        return _get(request, invitation, language, error=result.error, values=raw["value"])
    if result.is_complete:
        survey = invitation.survey
        context = {
            "language": language,
            "title": text_for(survey.texts, "title", language, survey.default_language),
            "thank_you": text_for(survey.texts, "thank_you", language, survey.default_language),
        }
        return _page(request, "surveys/form_thanks.html", context, invitation=invitation)
    return HttpResponseRedirect(request.get_full_path(), status=303)
