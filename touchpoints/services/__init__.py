"""Every write to the touchpoints app's tables goes through a function here.

Services are keyword-only, typed, atomic and named ``<entity>_<verb>``; they raise
:class:`config.errors.ApplicationError` for bad input and broken rules.
"""

from touchpoints.services.customers import customer_delete, customer_upsert
from touchpoints.services.events import events_ingest
from touchpoints.services.journeys import (
    event_name_map,
    journey_create,
    journey_delete,
    journey_update,
    persona_create,
    persona_delete,
    persona_update,
    stage_create,
    stage_delete,
    stage_move,
    stage_reorder,
    stage_update,
    touchpoint_create,
    touchpoint_delete,
    touchpoint_update,
)
from touchpoints.services.workspaces import (
    apikey_create,
    apikey_revoke,
    apikey_touch,
    membership_set,
    workspace_create,
    workspace_delivery_update,
    workspace_embed_update,
    workspace_identity_secret_rotate,
    workspace_webhook_secret_rotate,
)

__all__ = [
    "apikey_create",
    "apikey_revoke",
    "apikey_touch",
    "customer_delete",
    "customer_upsert",
    "event_name_map",
    "events_ingest",
    "journey_create",
    "journey_delete",
    "journey_update",
    "membership_set",
    "persona_create",
    "persona_delete",
    "persona_update",
    "stage_create",
    "stage_delete",
    "stage_move",
    "stage_reorder",
    "stage_update",
    "touchpoint_create",
    "touchpoint_delete",
    "touchpoint_update",
    "workspace_create",
    "workspace_delivery_update",
    "workspace_embed_update",
    "workspace_identity_secret_rotate",
    "workspace_webhook_secret_rotate",
]
