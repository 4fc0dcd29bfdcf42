#!/usr/bin/env python
"""Django's command-line utility. Local (embedded, DEBUG) settings unless told otherwise."""

import os
import sys
from pathlib import Path


def main() -> None:
    import environ

    # .env first, so a DJANGO_SETTINGS_MODULE written there wins over the default.
    environ.Env.read_env(Path(__file__).resolve().parent / ".env", overwrite=False)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
