"""``python manage.py seed_demo [--json]``: the demo workspace, safe to run again."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from touchpoints.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo workspace (idempotent). --json prints the login and fresh API keys."

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

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates a superuser with a published password, so it runs only with DEBUG on. "
                "Use --force to run it anyway (never on a public server)."
            )
        result = demo_seed(create_keys=options["json"])
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
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo workspace “{result.workspace.name}” is ready.\n"
                f"  Sign in at http://127.0.0.1:8000/ as {result.username} / {password}"
            )
        )
