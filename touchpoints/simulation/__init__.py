"""Simulated customers walking a workspace's journeys, sent through the public events API.

The engine of ``python manage.py simulate_journey`` (see that command for the options):

- :func:`journey_plans` (:mod:`.journeys`) reads the workspace's *active* journeys
  from the database: their stages in order, and on each stage the touchpoints that
  have event names mapped to them. Stages without a mapped name cannot be observed,
  so they are left out of the walk.
- :class:`Simulation` (:mod:`.walk`) makes the customers. Customer ``n`` of seed
  ``s`` is ``sim-<s>-<n>`` and everything about them (name, ``@example.com`` email,
  language among en/ru/pl/hu with a matching locale and time zone, plan, persona,
  journey, where they drop off, which events they fire, order totals) comes from a
  random generator seeded with ``(s, n)`` alone: the same seed gives the same events
  whatever ``--customers`` is, and so the same message ids (``sim-<s>-<n>-<i>``),
  which the server stores once. Every customer reaches the first stage; before each
  later one they drop off with the plan's share of ``drop_off``, so later stages
  see fewer customers. On every stage reached they fire one or two of its
  touchpoints' event names, with properties guessed from the name (an order total
  at checkout, a carrier at delivery, a duration on a support call, ...:
  :mod:`.properties`); the customer's traits and ``context`` (locale, time zone)
  travel with their first event only, as at a sign-up (the server would let a
  later event's ``context.locale``, ``ru-RU``, replace the language ``ru`` set by
  the traits). Names, languages, locales and plans are in :mod:`.people`.
- Timestamps: with ``days`` each customer's walk (gaps of minutes within a stage,
  hours between stages, squeezed to fit) is placed at random in the last ``days``
  days, never after the start of the run. Without, every event is stamped when its
  batch is sent (a live stream). Either way customers are sent in cohorts of
  :data:`COHORT_SIZE` whose events interleave in time order, like real traffic.
- :class:`EventsClient` (:mod:`.sending`) posts batches with the standard library
  only (the point is to exercise the public API as any client would):
  ``{"batch": [...]}`` with ``Authorization: Bearer <key>``, retrying connection
  errors, 429 and 5xx with backoff (the message ids make a retried batch safe), and
  raising :class:`SimulationError` with a readable message for everything else.
- :class:`Pacer` (:mod:`.sending`) keeps to an events-per-second rate;
  :class:`Progress` (:mod:`.progress`) draws the progress bar (or a line per tenth
  when the output is not a terminal).
"""

from touchpoints.simulation.journeys import JourneyPlan, StagePlan, TouchpointPlan, journey_plans
from touchpoints.simulation.people import LANGUAGES, PLANS, Locale, Plan, SimulatedCustomer
from touchpoints.simulation.progress import Progress
from touchpoints.simulation.properties import PRODUCTS, Shopping, event_properties
from touchpoints.simulation.sending import (
    BatchResult,
    EventsClient,
    KeyRejected,
    Opener,
    Pacer,
    SimulationError,
    Totals,
    default_opener,
)
from touchpoints.simulation.walk import (
    COHORT_SIZE,
    GAP_BETWEEN_STAGES_SECONDS,
    GAP_IN_STAGE_SECONDS,
    NOMINAL_WINDOW_SECONDS,
    SECOND_TOUCHPOINT_CHANCE,
    WALK_MAX_SHARE,
    Preview,
    SimulatedEvent,
    Simulation,
    Walk,
    iso_timestamp,
    stamp_live,
)

__all__ = [
    "COHORT_SIZE",
    "GAP_BETWEEN_STAGES_SECONDS",
    "GAP_IN_STAGE_SECONDS",
    "LANGUAGES",
    "NOMINAL_WINDOW_SECONDS",
    "PLANS",
    "PRODUCTS",
    "SECOND_TOUCHPOINT_CHANCE",
    "WALK_MAX_SHARE",
    "BatchResult",
    "EventsClient",
    "JourneyPlan",
    "KeyRejected",
    "Locale",
    "Opener",
    "Pacer",
    "Plan",
    "Preview",
    "Progress",
    "Shopping",
    "SimulatedCustomer",
    "SimulatedEvent",
    "Simulation",
    "SimulationError",
    "StagePlan",
    "TouchpointPlan",
    "Totals",
    "Walk",
    "default_opener",
    "event_properties",
    "iso_timestamp",
    "journey_plans",
    "stamp_live",
]
