"""Every user-facing string is translated into ru, pl and hu, and the compiled catalogues match."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings

LOCALE_DIR = Path(settings.LOCALE_PATHS[0])
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "en"]


def po_entries(path: Path) -> list[dict[str, object]]:
    """A small .po reader: msgid, plural, msgstr(s) and flags per entry (header excluded)."""
    entries, current, key = [], None, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if current and current.get("msgid"):
                entries.append(current)
            current, key = None, None
            continue
        current = current or {"flags": "", "msgid": "", "msgstr": []}
        if line.startswith("#,"):
            current["flags"] += line
        elif line.startswith("msgid "):
            key, current["msgid"] = "msgid", eval(line[6:])  # noqa: S307 - a quoted .po string literal
        elif line.startswith("msgid_plural "):
            key = "plural"
        elif re.match(r"msgstr(\[\d\])? ", line):
            key = "msgstr"
            current["msgstr"].append(eval(line.split(" ", 1)[1]))  # noqa: S307
        elif line.startswith('"') and key == "msgid":
            current["msgid"] += eval(line)  # noqa: S307
        elif line.startswith('"') and key == "msgstr":
            current["msgstr"][-1] += eval(line)  # noqa: S307
    return entries


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_is_complete_and_compiled(language):
    po = LOCALE_DIR / language / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    entries = po_entries(po)
    assert len(entries) > 200
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"])]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == []
    assert fuzzy == []
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in entries:
        if len(entry["msgstr"]) == 1:
            assert compiled.gettext(entry["msgid"]) == entry["msgstr"][0], f"{mo} is stale: run make messages"
