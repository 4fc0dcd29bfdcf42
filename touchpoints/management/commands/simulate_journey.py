"""``python manage.py simulate_journey``: simulated customers walk the journey, through the public API.

It sends a realistic stream of touchpoint events for ``--customers`` simulated
customers to a running JourneyPulse server (``--url``), through the public events
API (``POST /api/v1/events``, batches of ``--batch-size``) with nothing but the
standard library, while a progress bar runs. A new user of the demo watches
customers, events and survey invitations appear.

How it behaves:

- The journey map is read from this project's database: every *active* journey of
  ``--workspace`` (default: the key's workspace, else ``demo``) with event names
  mapped to its touchpoints. Run it beside the server, on the same database. No
  mapped event name is an error that says where to map some.
- Without ``--key`` a write key is created for the workspace through
  :func:`touchpoints.services.apikey_create`, announced once the server has taken
  it, and revoked when the run ends, however it ends. A ``--key`` of another workspace than ``--workspace`` is
  refused before anything is sent.
- Customers, their walks and their events come from ``--seed`` (a random one is
  picked and printed when none is given): see :mod:`touchpoints.simulation`. The
  same seed sends the same message ids, so running again, or after a failure,
  stores nothing twice (the server counts those events as duplicates).
- ``--days D`` places each customer's walk at random in the last ``D`` days (never
  in the future); the default 0 stamps every event when it is sent. Old events fill
  the reports, but the trigger engine invites nobody for them.
- ``--rate R`` sends at most ``R`` events a second, in batches of about a fifth of a
  second's worth (at most ``--batch-size``); 0 means as fast as the server takes them.
- Before the first event an empty batch checks that the server answers and takes
  the key. Connection errors, 429 and 5xx are retried with backoff (4 tries); a
  refused key (401/403), an unreachable server, a redirect or a wrong URL stop the
  run with a message saying what to do, and what was already sent. Items the server
  refuses are summarised by field and message at the end.
- Progress goes to stderr: a bar redrawn in place on a terminal, a line per tenth
  otherwise, nothing with ``--no-progress`` or ``-v 0``. The summary (stdout) gives
  customers, events accepted, duplicates, errors, elapsed time and the customers
  reaching each stage.
"""

from __future__ import annotations

import argparse
import secrets
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from config.limits import EVENTS_BATCH_MAX
from touchpoints.demo import DEMO_SLUG
from touchpoints.models import ApiKey, Workspace
from touchpoints.selectors import apikey_get_active
from touchpoints.services import apikey_create, apikey_revoke
from touchpoints.simulation import (
    EventsClient,
    JourneyPlan,
    Pacer,
    Preview,
    Progress,
    Simulation,
    SimulationError,
    Totals,
    journey_plans,
    stamp_live,
)

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_BATCH_SIZE = 100
CUSTOMERS_MAX = 1_000_000
DAYS_MAX = 3650
#: Name of the write key made when no --key is given (revoked at the end of the run).
TEMPORARY_KEY_NAME = "simulate_journey (temporary)"
#: Kinds of item error listed in the summary; the rest are counted.
ERROR_KINDS_SHOWN = 5

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, and the description's paragraphs and examples kept as written."""


def help_text() -> str:
    return _(
        "Send a realistic stream of touchpoint events for simulated customers to a running JourneyPulse\n"
        "server, through its public events API, and watch customers, events and survey invitations appear.\n"
        "\n"
        "Each customer (user id sim-<seed>-<n>) gets a name, an @example.com email, a language (en, ru, pl\n"
        "or hu) with its time zone, a plan and a persona, then walks one of the workspace's active journeys\n"
        "stage by stage, firing one or two of each stage's mapped event names (an order total at checkout,\n"
        "a carrier at delivery...) and dropping off on the way, so later stages see fewer customers.\n"
        "\n"
        "The journey map is read from this project's database: run it beside the server. The same --seed\n"
        "sends the same events again, which the server stores once (they count as duplicates). Without\n"
        "--key a temporary write key is created for the workspace and revoked when the run ends.\n"
        "\n"
        "Examples:\n"
        "  manage.py simulate_journey\n"
        "  manage.py simulate_journey --customers 50 --rate 10       # a slow live stream\n"
        "  manage.py simulate_journey --customers 2000 --days 30     # a month of history"
    )


class Command(BaseCommand):
    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        self.help = help_text()  # translated when asked for, not at import
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers", type=int, default=200, metavar="N", help=_("Customers to simulate (default %(default)s).")
        )
        parser.add_argument(
            "--url", default=DEFAULT_URL, help=_("Address of the running JourneyPulse server (default %(default)s).")
        )
        parser.add_argument(
            "--workspace",
            metavar="SLUG",
            help=_("Workspace slug (default: the workspace of --key, else %(demo)s).") % {"demo": DEMO_SLUG},
        )
        parser.add_argument(
            "--key",
            help=_(
                "A write key (jp_wk_…) of the workspace. Without one, a temporary write key is created "
                "and revoked when the run ends."
            ),
        )
        parser.add_argument(
            "--days",
            type=float,
            default=0.0,
            metavar="D",
            help=_(
                "Spread the customers' walks over the last D days, never in the future "
                "(default 0: every event is stamped when it is sent)."
            ),
        )
        parser.add_argument(
            "--seed",
            type=int,
            help=_("Seed of the simulated customers: the same seed sends the same events (default: a random one)."),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help=_("Events per request, 1 to %(max)d (default %(default)d).")
            % {"max": EVENTS_BATCH_MAX, "default": DEFAULT_BATCH_SIZE},
        )
        parser.add_argument(
            "--rate",
            type=float,
            default=0.0,
            metavar="R",
            help=_("Send at most R events per second (default 0: no limit)."),
        )
        parser.add_argument(
            "--drop-off",
            type=float,
            default=0.2,
            metavar="P",
            help=_(
                "Chance that a customer leaves before each next stage, 0 to 0.95; free-plan customers leave "
                "a little more often, premium ones less (default %(default)s)."
            ),
        )
        parser.add_argument("--no-progress", action="store_true", help=_("Show no progress on stderr."))

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        url = self._checked_options(options)
        workspace, key = self._workspace(options["workspace"], options["key"])
        plans = journey_plans(workspace=workspace)
        if not plans:
            raise CommandError(
                _(
                    "Workspace “%(workspace)s” has no active journey with event names mapped to its touchpoints, "
                    "so there is nothing to simulate. Map event names to touchpoints on the journey map (or on "
                    "the Events page) first."
                )
                % {"workspace": workspace.slug}
            )
        seed = options["seed"] if options["seed"] is not None else secrets.randbelow(1_000_000)
        simulation = Simulation(
            journeys=plans,
            customers=options["customers"],
            seed=seed,
            drop_off=options["drop_off"],
            days=options["days"],
        )
        temporary_key: ApiKey | None = None
        if not key:
            temporary_key, key = apikey_create(workspace=workspace, name=TEMPORARY_KEY_NAME, kind=ApiKey.Kind.WRITE)
        try:
            self._run(simulation, EventsClient(base_url=url, key=key), workspace, temporary_key, options)
        finally:
            if temporary_key is not None:
                apikey_revoke(workspace=workspace, api_key_id=temporary_key.pk)

    # --- Options -----------------------------------------------------------------------

    def _checked_options(self, options: dict[str, Any]) -> str:
        """Refuse out-of-range options with a message; return the server address."""
        if not 1 <= options["customers"] <= CUSTOMERS_MAX:
            raise CommandError(_("--customers must be between 1 and %(max)d.") % {"max": CUSTOMERS_MAX})
        if not 0 <= options["days"] <= DAYS_MAX:
            raise CommandError(_("--days must be between 0 and %(max)d.") % {"max": DAYS_MAX})
        if not 1 <= options["batch_size"] <= EVENTS_BATCH_MAX:
            raise CommandError(_("--batch-size must be between 1 and %(max)d.") % {"max": EVENTS_BATCH_MAX})
        if options["rate"] < 0:
            raise CommandError(_("--rate must be 0 (no limit) or more."))
        if not 0 <= options["drop_off"] <= 0.95:
            raise CommandError(_("--drop-off must be between 0 and 0.95."))
        if options["seed"] is not None and options["seed"] < 0:
            raise CommandError(_("--seed must be 0 or more."))
        url = options["url"].strip()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise CommandError(
                _("--url must be an http:// or https:// address such as %(example)s, not “%(url)s”.")
                % {"example": DEFAULT_URL, "url": url}
            )
        return url.rstrip("/")

    def _workspace(self, slug: str | None, key: str | None) -> tuple[Workspace, str | None]:
        """The workspace to simulate: --workspace, else the key's (when this database knows it), else the demo."""
        key = (key or "").strip() or None
        owner = apikey_get_active(raw_key=key) if key and "\x00" not in key else None
        if owner is not None and slug and owner.workspace.slug != slug:
            raise CommandError(
                _(
                    "The key belongs to workspace “%(key_workspace)s”, not “%(workspace)s”: pass "
                    "--workspace %(key_workspace)s, or a key of “%(workspace)s”."
                )
                % {"key_workspace": owner.workspace.slug, "workspace": slug}
            )
        if owner is not None and not slug:
            return owner.workspace, key
        workspace = Workspace.objects.filter(slug=slug or DEMO_SLUG).first()
        if workspace is None:
            raise CommandError(
                _(
                    "There is no workspace “%(slug)s” in this database. Give an existing slug with --workspace "
                    "(“make run” creates the demo workspace, “%(demo)s”)."
                )
                % {"slug": slug or DEMO_SLUG, "demo": DEMO_SLUG}
            )
        return workspace, key

    # --- Sending ---------------------------------------------------------------------

    def _run(
        self,
        simulation: Simulation,
        client: EventsClient,
        workspace: Workspace,
        temporary_key: ApiKey | None,
        options: dict[str, Any],
    ) -> None:
        try:
            client.check()
        except SimulationError as error:
            raise CommandError(str(error)) from None
        if temporary_key is not None:
            self._say(
                _(
                    "No --key given: created the temporary write key %(prefix)s… for workspace “%(workspace)s”; "
                    "it is revoked when the run ends."
                )
                % {"prefix": temporary_key.prefix, "workspace": workspace.slug}
            )
        preview = simulation.preview()
        self._say(
            _(
                "Sending %(events)s of %(customers)s on %(journeys)s "
                "(workspace “%(workspace)s”, seed %(seed)d) to %(url)s."
            )
            % {
                "events": ngettext("%(count)d event", "%(count)d events", preview.events) % {"count": preview.events},
                "customers": ngettext("%(count)d customer", "%(count)d customers", simulation.customers)
                % {"count": simulation.customers},
                "journeys": ", ".join(f"“{journey.name}”" for journey in simulation.journeys),
                "workspace": workspace.slug,
                "seed": simulation.seed,
                "url": client.endpoint,
            }
        )
        rate = options["rate"]
        batch_size = options["batch_size"]
        if rate > 0:  # about a fifth of a second's worth per request, so the stream flows evenly
            batch_size = max(1, min(batch_size, round(rate / 5)))
        progress = Progress(
            write=lambda text: self.stderr.write(text, style_func=lambda plain: plain, ending=""),
            total=preview.events,
            mode=self._progress_mode(options["no_progress"]),
        )
        pacer = Pacer(rate)
        totals = Totals()
        started = time.monotonic()
        try:
            for batch in batched(simulation.stream(now=timezone.now()), batch_size):
                pacer.wait(totals.sent)
                totals.add(client.send(stamp_live(batch, timezone.now())), len(batch))
                progress.update(totals.sent)
        except SimulationError as error:
            progress.finish(totals.sent)
            raise CommandError(f"{error}\n{self._resume_hint(totals, preview, simulation.seed)}") from None
        except KeyboardInterrupt:
            progress.finish(totals.sent)
            raise CommandError(
                _("Interrupted.") + "\n" + self._resume_hint(totals, preview, simulation.seed), returncode=130
            ) from None
        progress.finish(totals.sent)
        self._summary(simulation, preview, totals, time.monotonic() - started, client.base_url)

    def _progress_mode(self, no_progress: bool) -> str:
        """A bar on a terminal, a line per tenth elsewhere (logs, CI), nothing when asked for quiet."""
        if no_progress or self.verbosity == 0:
            return "off"
        return "bar" if self.stderr.isatty() else "lines"

    def _resume_hint(self, totals: Totals, preview: Preview, seed: int) -> str:
        return _(
            "%(sent)d of %(total)d events were sent before that (%(accepted)d accepted, %(duplicates)d duplicates). "
            "Run the same command with --seed %(seed)d to send the rest: events already stored count as duplicates."
        ) % {
            "sent": totals.sent,
            "total": preview.events,
            "accepted": totals.accepted,
            "duplicates": totals.duplicates,
            "seed": seed,
        }

    def _summary(
        self, simulation: Simulation, preview: Preview, totals: Totals, elapsed_seconds: float, base_url: str
    ) -> None:
        counts = {
            "customers": ngettext("%(count)d customer", "%(count)d customers", simulation.customers)
            % {"count": simulation.customers},
            "accepted": ngettext("%(count)d event accepted", "%(count)d events accepted", totals.accepted)
            % {"count": totals.accepted},
            "duplicates": ngettext("%(count)d duplicate", "%(count)d duplicates", totals.duplicates)
            % {"count": totals.duplicates},
            "errors": ngettext("%(count)d error", "%(count)d errors", totals.errors) % {"count": totals.errors},
        }
        line = _("Done in %(seconds).1f s: %(customers)s, %(accepted)s, %(duplicates)s, %(errors)s.") % {
            "seconds": elapsed_seconds,
            **counts,
        }
        self._say(line, self.style.WARNING if totals.errors else self.style.SUCCESS)
        if totals.errors:
            self._error_kinds(totals)
        for journey, funnel in zip(simulation.journeys, preview.funnels, strict=True):
            self._funnel(journey, funnel)
        self._say(
            _("Seed %(seed)d: add --seed %(seed)d to send exactly these events again (they count as duplicates).")
            % {"seed": simulation.seed}
        )
        self._say(_("Events page: %(url)s") % {"url": base_url + reverse("touchpoints:event-names")})
        if totals.errors and not totals.accepted and not totals.duplicates:
            raise CommandError(_("The server accepted none of the events; see its errors above."))

    def _error_kinds(self, totals: Totals) -> None:
        self._say(_("Events the server refused, by field and reason:"))
        kinds = totals.error_kinds.most_common()
        for (field, message), count in kinds[:ERROR_KINDS_SHOWN]:
            self._say(f"  {count} × {field or '-'}: {message}")
        if len(kinds) > ERROR_KINDS_SHOWN:
            rest = len(kinds) - ERROR_KINDS_SHOWN
            self._say(
                "  " + ngettext("…and %(count)d more reason", "…and %(count)d more reasons", rest) % {"count": rest}
            )

    def _funnel(self, journey: JourneyPlan, funnel: list[int]) -> None:
        self._say(_("Customers reaching each stage of “%(journey)s”:") % {"journey": journey.name})
        labels = [f"{stage.order}. {stage.name}" for stage in journey.stages]
        width = max(len(label) for label in labels)
        for label, count in zip(labels, funnel, strict=True):
            self._say(f"  {label.ljust(width)}  {count:>7}")

    def _say(self, text: str, style: Any = None) -> None:
        if self.verbosity > 0:
            self.stdout.write(text, style_func=style)
