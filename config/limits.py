"""Input limits shared by forms, serializers and services.

Anything a client sends is bounded: ids fit a 64-bit key (a larger number is a
field error, not an overflow), lists and JSON documents have a size.
"""

#: Largest primary key (PostgreSQL bigint); larger ids cannot exist.
ID_MAX = 2**63 - 1
#: Items in one list field (event names of a touchpoint, personas of a journey).
LIST_MAX_ITEMS = 200
#: Stages in one reorder request.
STAGES_MAX = 500
#: Customer traits: nesting depth and size of the JSON document.
TRAITS_MAX_DEPTH = 5
TRAITS_MAX_BYTES = 16 * 1024
#: Origins a workspace may list as allowed to embed its surveys.
EMBED_ORIGINS_MAX = 20
#: Events in one native batch request.
EVENTS_BATCH_MAX = 1000
#: One event's JSON, and one request's body (Segment's limits: 32 KB and 500 KB).
EVENT_MAX_BYTES = 32 * 1024
EVENTS_REQUEST_MAX_BYTES = 500 * 1024
#: How far in the future an event's timestamp may be (client clocks drift).
EVENT_FUTURE_TOLERANCE_HOURS = 24
