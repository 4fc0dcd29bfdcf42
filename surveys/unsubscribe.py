"""Unsubscribing from surveys: ``/s/<token>/unsubscribe/``, linked from every invitation email.

A GET only shows the page with its button (link scanners follow every link in an
email); a POST unsubscribes. Mail clients' one-click unsubscribe (RFC 8058) POSTs
``List-Unsubscribe=One-Click`` from their own servers, with no cookie, no CSRF token
and no (or a foreign) Origin, so the view is ``csrf_exempt`` and skips the form's
Origin check: the unguessable invitation token is the credential, as for the survey
form (:mod:`surveys.views`), and a forged request could only do what the token's
holder may do anyway: stop surveys to themself. It works whatever the invitation's
state, expired or answered too.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from surveys.models import Invitation
from surveys.views import TOKEN_SHAPE, _page, form_language, ui_language
from touchpoints.models import Customer


@transaction.atomic
def customer_unsubscribe(*, customer: Customer, now: datetime | None = None) -> bool:
    """Never survey ``customer`` again; their ``scheduled`` invitations become ``suppressed``.

    Idempotent: only the first call sets ``unsubscribed_at`` and returns True; later calls
    return False (and suppress any scheduled invitation that slipped in meanwhile).
    """
    now = now or timezone.now()
    is_first = bool(
        Customer.objects.filter(pk=customer.pk, unsubscribed_at__isnull=True).update(
            unsubscribed_at=now, updated_at=now
        )
    )
    Invitation.objects.filter(
        workspace_id=customer.workspace_id, customer=customer, status=Invitation.Status.SCHEDULED
    ).update(status=Invitation.Status.SUPPRESSED, suppressed_at=now, updated_at=now)
    if is_first:
        customer.unsubscribed_at = now
    else:
        customer.unsubscribed_at = Customer.objects.filter(pk=customer.pk).values_list("unsubscribed_at", flat=True)[0]
    return is_first


@csrf_exempt  # guarded by the unguessable token; mail clients' one-click POST carries no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    # Only a well-formed token reaches the database (a NUL byte would be a PostgreSQL error).
    invitation = (
        Invitation.objects.select_related("survey", "customer", "workspace").filter(token=token).first()
        if TOKEN_SHAPE.fullmatch(token)
        else None
    )
    if invitation is None:
        return _page(request, "surveys/form_not_found.html", {"language": "en"}, status=404)
    language = form_language(request, invitation)
    customer = invitation.customer
    with translation.override(ui_language(language)):
        if request.method == "POST":
            customer_unsubscribe(customer=customer)
        context = {
            "language": ui_language(language),
            "company": invitation.workspace.name,
            "is_unsubscribed": customer.unsubscribed_at is not None,
        }
        # Not framed by anybody (no invitation passed to _page): a hidden one-button page is a clickjacking target.
        return _page(request, "surveys/unsubscribe.html", context)
