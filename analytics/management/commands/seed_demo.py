"""``python manage.py seed_demo [--json] [--no-history]``: the demo workspace, safe to run again.

It lives in the analytics app, the one that may import all others: touchpoints
(journey, personas) through :mod:`touchpoints.demo`, the surveys and rules through
:mod:`surveys.demo`, then 90 days of events and answers through
:mod:`analytics.demo`, so the first report has real figures and friction flags.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import reverse

from analytics.demo import DEFAULT_DAYS, demo_seed_history
from surveys.demo import demo_seed_invitations, demo_seed_rules, demo_seed_surveys
from touchpoints.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo workspace with 90 days of history (idempotent). --json prints the login and fresh API keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json",
            action="store_true",
            help='Print {"workspace", "username", "password", "write_key", "secret_key"} with new keys.',
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (the demo user is a superuser with a published password).",
        )
        parser.add_argument(
            "--no-history",
            action="store_true",
            help=f"Skip the {DEFAULT_DAYS} days of simulated events and answers (written once, on the first run).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates a superuser with a published password, so it runs only with DEBUG on. "
                "Use --force to run it anyway (never on a public server)."
            )
        started = time.perf_counter()
        with transaction.atomic():
            result = demo_seed(create_keys=options["json"])
            surveys = demo_seed_surveys(workspace=result.workspace)
            demo_rules = demo_seed_rules(workspace=result.workspace)
            invitations = demo_seed_invitations(workspace=result.workspace, survey=surveys[0])
            history = None if options["no_history"] else demo_seed_history(workspace=result.workspace)
        if options["json"]:
            payload = {
                "workspace": result.workspace.slug,
                "username": result.username,
                "password": result.password,
                "write_key": result.write_key,
                "secret_key": result.secret_key,
            }
            self.stdout.write(json.dumps(payload))
            return
        password = result.password or "(the password you set: the user existed already)"
        lines = [
            f"Demo workspace “{result.workspace.name}” is ready, with {len(surveys)} surveys "
            f"and {len(demo_rules)} trigger rules.",
            f"  Sign in at http://127.0.0.1:8000/ as {result.username} / {password}",
            f"  Answer a survey as a customer: http://127.0.0.1:8000"
            f"{reverse('survey-form', args=[invitations[0].token])}",
        ]
        if history is not None and history.created:
            lines.insert(
                1,
                f"  History: {history.days} days, {history.customers:,} customers, {history.events:,} events, "
                f"{history.invitations:,} invitations, {history.answers:,} answers "
                f"({time.perf_counter() - started:.1f} s).",
            )
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
