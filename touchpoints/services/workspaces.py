"""Workspaces, memberships and API keys."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from touchpoints.keys import VISIBLE_PREFIX_LENGTH, hash_api_key, new_api_key
from touchpoints.models import ApiKey, Membership, Role, Workspace, new_identity_secret
from touchpoints.services.common import model_clean, save_or_raise


@transaction.atomic
def workspace_create(
    *,
    name: str,
    slug: str = "",
    default_language: str = "en",
    timezone_name: str = "UTC",
    owner: User | None = None,
) -> Workspace:
    """Create a workspace; ``owner``, when given, becomes its admin.

    Without a slug one is made from the name; a name with no Latin letters
    (``Ромашка``) gets ``workspace-<random>``.
    """
    slug = slug or slugify(name)[:60] or f"workspace-{secrets.token_hex(3)}"
    workspace = Workspace(name=name.strip(), slug=slug, default_language=default_language, timezone=timezone_name)
    model_clean(workspace)
    taken = ApplicationError.for_field("slug", _("This slug is already taken."))
    if Workspace.objects.filter(slug=workspace.slug).exists():
        raise taken
    save_or_raise(workspace, taken)
    if owner is not None:
        membership_set(workspace=workspace, user=owner, role=Role.ADMIN)
    return workspace


@transaction.atomic
def membership_set(*, workspace: Workspace, user: User, role: str) -> Membership:
    """Give ``user`` the ``role`` in ``workspace``, creating the membership if needed."""
    if role not in Role.values:
        raise ApplicationError.for_field("role", _("Unknown role."))
    membership, _created = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def apikey_create(
    *,
    workspace: Workspace,
    name: str,
    kind: str,
    role: str = "",
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its raw value, which is shown once and never stored."""
    if kind not in ApiKey.Kind.values:
        raise ApplicationError.for_field("kind", _("Unknown key kind."))
    if kind == ApiKey.Kind.SECRET and role not in Role.values:
        raise ApplicationError.for_field("role", _("A secret key needs a role."))
    if kind == ApiKey.Kind.WRITE and role:
        raise ApplicationError.for_field("role", _("A write key has no role: it can only send events."))
    raw_key = new_api_key(kind)
    api_key = ApiKey(
        workspace=workspace,
        name=name.strip(),
        kind=kind,
        role=role,
        prefix=raw_key[:VISIBLE_PREFIX_LENGTH],
        hashed_key=hash_api_key(raw_key),
        created_by=created_by,
    )
    model_clean(api_key, exclude=["created_by"])
    try:
        with transaction.atomic():
            api_key.save()
    except IntegrityError as exc:  # a 256-bit collision: practically impossible, never silent
        raise ApplicationError(_("Could not create the key; try again.")) from exc
    return api_key, raw_key


@transaction.atomic
def apikey_revoke(*, workspace: Workspace, api_key_id: int) -> ApiKey:
    api_key = ApiKey.objects.for_workspace(workspace).select_for_update().get(pk=api_key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def apikey_touch(*, api_key: ApiKey) -> None:
    """Record that a key was used, at most once per ``API_KEY_LAST_USED_RESOLUTION_SECONDS``.

    Inside the window nothing is written; past it, one conditional UPDATE (so two
    requests racing past the window still write once).
    """
    now = timezone.now()
    window = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is not None and api_key.last_used_at >= now - window:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - window)).update(
        last_used_at=now
    )
    api_key.last_used_at = now


@transaction.atomic
def workspace_embed_update(*, workspace: Workspace, origins: list[str]) -> Workspace:
    """Set the sites that may embed the workspace's surveys.

    Origins are normalised (trimmed, lower case, no trailing slash, duplicates
    dropped) before they are checked, so ``https://Shop.example.com/`` is kept
    as ``https://shop.example.com``.
    """
    cleaned = [origin.strip().lower().rstrip("/") for origin in origins if isinstance(origin, str)]
    if len(cleaned) != len(origins):
        raise ApplicationError.for_field("embed_origins", _("Give a list of origins."))
    workspace.embed_origins = list(dict.fromkeys(origin for origin in cleaned if origin))
    model_clean(workspace)
    workspace.save(update_fields=["embed_origins", "updated_at"])
    return workspace


@transaction.atomic
def workspace_identity_secret_rotate(*, workspace: Workspace) -> Workspace:
    """Replace the identity secret: user hashes made with the old one stop working at once."""
    workspace.identity_secret = new_identity_secret()
    workspace.save(update_fields=["identity_secret", "updated_at"])
    return workspace


#: Contact policy bounds (days); 0 means no workspace-wide limit.
CONTACT_POLICY_DAYS_MAX = 365


def _clean_webhook_url(value: str) -> str:
    """Blank, or an absolute http(s) URL with a host and no user name or password in it."""
    url = value.strip()
    if not url:
        return ""
    error = ApplicationError.for_field(
        "webhook_url", _("Enter a web address starting with https:// or http://, such as https://example.com/hooks.")
    )
    try:
        parts = urlsplit(url)
        URLValidator(schemes=["http", "https"])(url)
    except (ValueError, ValidationError) as exc:
        raise error from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise error
    if parts.username is not None or parts.password is not None:
        raise ApplicationError.for_field(
            "webhook_url", _("Leave the user name and password out of the address: every request is signed.")
        )
    return url


@transaction.atomic
def workspace_delivery_update(*, workspace: Workspace, contact_policy_days: int, webhook_url: str) -> Workspace:
    """Set the contact policy (at most one survey per customer per this many days, 0–365) and the webhook URL.

    A blank URL turns webhook delivery off. ``workspace`` is updated only when the change is saved.
    """
    if (
        isinstance(contact_policy_days, bool)
        or not isinstance(contact_policy_days, int)
        or not 0 <= contact_policy_days <= CONTACT_POLICY_DAYS_MAX
    ):
        raise ApplicationError.for_field(
            "contact_policy_days",
            _("Enter a whole number of days from 0 to %(max)d.") % {"max": CONTACT_POLICY_DAYS_MAX},
        )
    if not isinstance(webhook_url, str):
        raise ApplicationError.for_field("webhook_url", _("Enter a web address."))
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    locked.contact_policy_days = contact_policy_days
    locked.webhook_url = _clean_webhook_url(webhook_url)
    model_clean(locked)
    locked.save(update_fields=["contact_policy_days", "webhook_url", "updated_at"])
    workspace.contact_policy_days, workspace.webhook_url = locked.contact_policy_days, locked.webhook_url
    workspace.updated_at = locked.updated_at
    return workspace


@transaction.atomic
def workspace_webhook_secret_rotate(*, workspace: Workspace) -> Workspace:
    """Replace the webhook secret: requests are signed with the new one from now on."""
    workspace.webhook_secret = new_identity_secret()
    workspace.save(update_fields=["webhook_secret", "updated_at"])
    return workspace
