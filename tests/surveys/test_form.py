"""The public form /s/<token>/ through the Django test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from surveys import services
from surveys.invitations import invitations_create
from surveys.models import Answer, Invitation, Response
from tests.touchpoints.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(workspace) -> Invitation:
    survey = services.survey_create_from_template(workspace=workspace, template="csat_support")
    services.survey_publish(workspace=workspace, survey_id=survey.pk)
    CustomerFactory(workspace=workspace, external_id="ann", language="")
    return invitations_create(workspace=workspace, survey_id=survey.pk, customer_external_ids=["ann"], channel="link")[
        0
    ]


def url(invitation: Invitation, query: str = "") -> str:
    return reverse("survey-form", args=[invitation.token]) + query


def step(client, invitation, *values: str, **headers):
    current = invitation.survey.questions.filter(is_archived=False).order_by("order")
    answered = set(Answer.objects.filter(response__invitation=invitation).values_list("question_id", flat=True))
    question = next(q for q in current if q.pk not in answered)
    return client.post(url(invitation), {"question": question.pk, "value": list(values)}, **headers)


def test_get_renders_an_accessible_form_and_stores_nothing(client, invitation):
    response = client.get(url(invitation))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert "<fieldset" in html
    assert "<legend>" in html
    assert html.count('type="radio" name="value"') == 5
    assert "Very dissatisfied" in html
    assert "Very satisfied" in html
    # JavaScript only enhances (the browser tests answer with it disabled), and only our own file.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/surveys/form.js" defer>']
    assert len(response.content) < 20_000
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp
    assert "script-src 'self'" in csp
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # no embed origins listed
    assert not Response.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == "opened"
    assert invitation.opened_at is not None


def test_one_click_score_is_preselected_but_not_saved(client, invitation):
    html = client.get(url(invitation, "?score=4")).content.decode()
    assert 'value="4" checked' in html
    assert not Response.objects.exists()


def test_out_of_range_one_click_score_preselects_nothing(client, invitation):
    assert " checked" not in client.get(url(invitation, "?score=11")).content.decode()


def test_low_score_shows_the_follow_up_then_completes(client, invitation):
    first = step(client, invitation, "2")
    assert first.status_code == 303
    follow_up = client.get(url(invitation)).content.decode()
    assert "What could we have done better?" in follow_up
    done = step(client, invitation, "Too slow")
    assert done.status_code == 200
    assert "Thank you for your feedback!" in done.content.decode()
    response = Response.objects.get(invitation=invitation)
    assert response.is_complete
    assert set(response.answers.values_list("number", "text")) == {(2, ""), (None, "Too slow")}
    invitation.refresh_from_db()
    assert invitation.status == "answered"


def test_high_score_skips_the_conditional_follow_up(client, invitation):
    done = step(client, invitation, "5")
    assert "Thank you" in done.content.decode()
    assert Response.objects.get(invitation=invitation).answers.count() == 1


def test_a_completed_invitation_stores_nothing_more(client, invitation):
    step(client, invitation, "5")
    question = invitation.survey.questions.get(order=1)
    again = client.post(url(invitation), {"question": question.pk, "value": ["1"]})
    assert "already answered" in again.content.decode()
    assert list(Answer.objects.values_list("number", flat=True)) == [5]
    assert "already answered" in client.get(url(invitation)).content.decode()


def test_coming_back_continues_where_the_customer_stopped(client, invitation):
    step(client, invitation, "1")
    html = client.get(url(invitation)).content.decode()
    assert "What could we have done better?" in html
    assert "How satisfied" not in html


@pytest.mark.parametrize(
    ("value", "message"), [("9", "Choose a score from 1 to 5."), ("", "Please answer this question.")]
)
def test_bad_scores_are_form_errors_on_the_page(client, invitation, value, message):
    response = step(client, invitation, value)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert 'role="alert"' in html
    assert 'aria-describedby="error' in html
    assert not Response.objects.exists()


def test_text_over_5000_characters_is_a_form_error(client, invitation):
    step(client, invitation, "1")
    response = step(client, invitation, "x" * 5001)
    assert response.status_code == 400
    assert Answer.objects.count() == 1


def test_expired_invitation_is_410_and_takes_nothing(client, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(url(invitation)).status_code == 410
    assert step(client, invitation, "3").status_code == 410
    assert not Response.objects.exists()


@pytest.mark.parametrize("token", ["nope", "x" * 65, "%00", "a%00" + "b" * 40, "a" * 43 + "%20"])
def test_unknown_or_tampered_token_is_a_404_that_reveals_nothing(client, invitation, token):
    response = client.get(f"/s/{token}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Acme" not in html
    assert "ann" not in html


def test_cross_origin_post_is_refused(client, invitation):
    response = step(client, invitation, "3", HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    assert not Response.objects.exists()


def test_same_origin_post_works_without_a_csrf_cookie(invitation):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = step(client, invitation, "5", HTTP_ORIGIN="http://testserver")
    assert response.status_code == 200
    assert Response.objects.get().is_complete


@pytest.mark.parametrize(
    ("invitation_language", "customer_language", "accept", "expected"),
    [
        ("pl", "ru", "hu", "pl"),
        ("", "ru", "hu", "ru"),
        ("", "", "hu-HU,hu;q=0.9", "hu"),
        ("", "de", "fr", "en"),
    ],
)
def test_language_resolution(client, invitation, invitation_language, customer_language, accept, expected):
    Invitation.objects.filter(pk=invitation.pk).update(language=invitation_language)
    invitation.customer.language = customer_language
    invitation.customer.save()
    html = client.get(url(invitation), HTTP_ACCEPT_LANGUAGE=accept).content.decode()
    assert f'<html lang="{expected}">' in html
    question_text = invitation.survey.questions.get(order=1).texts[expected]["text"]
    assert question_text in html


def test_answers_are_kept_in_the_response_language(client, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(language="ru")
    html = client.get(url(invitation)).content.decode()
    with translation.override("ru"):
        next_label = gettext("Next")
    assert next_label != "Next", "the catalogue has no translation"
    assert f">{next_label}</button>" in html
    step(client, invitation, "5")
    assert Response.objects.get().language == "ru"


def test_form_keeps_its_token_out_of_other_sites_referers(client, invitation):
    assert client.get(url(invitation))["Referrer-Policy"] == "same-origin"


def test_nul_in_a_text_answer_is_a_form_error(client, invitation):
    step(client, invitation, "1")
    response = step(client, invitation, "bad\x00text")
    assert response.status_code == 400
    assert Answer.objects.count() == 1


@pytest.mark.parametrize("value", ["²", "9" * 5000, "1e1", " 3"])
def test_odd_numbers_are_form_errors_not_crashes(client, invitation, value):
    assert client.get(url(invitation, f"?score={value}")).status_code == 200
    response = step(client, invitation, value)
    assert response.status_code == 400
    assert not Response.objects.exists()


def test_huge_question_id_is_ignored(client, invitation):
    response = client.post(url(invitation), {"question": "9" * 5000, "value": ["3"]})
    assert response.status_code == 302
    assert not Response.objects.exists()
