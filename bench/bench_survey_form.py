"""The public survey form: bytes sent and server time per request.

Bytes: the HTML of the first step plus its one stylesheet, against the 20 KB budget
(issue 4). Time: GET /s/<token>/ through the full stack (token lookup, language,
open tracking, next-question logic, template), against the cheapest full Django
request we have, ``/health/`` (one query, a small JSON answer), through the same
test client, interleaved in one process.
"""

from __future__ import annotations

import gzip
import statistics
import time
from pathlib import Path

from common import bench_database  # first: sets Django up
from django.contrib.staticfiles import finders
from django.test import Client

ROUNDS = 200
BUDGET_BYTES = 20 * 1024


def main() -> None:
    from surveys import services
    from surveys.invitations import invitations_create
    from touchpoints.services import customer_upsert, workspace_create

    with bench_database():
        workspace = workspace_create(name="Bench shop", slug="bench")
        survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
        services.survey_publish(workspace=workspace, survey_id=survey.pk)
        customer_upsert(workspace=workspace, external_id="c1", data={"language": "pl"})
        invitation = invitations_create(
            workspace=workspace, survey_id=survey.pk, customer_external_ids=["c1"], channel="link"
        )[0]
        client = Client()
        url = f"/s/{invitation.token}/"
        html = client.get(url).content
        css = Path(finders.find("surveys/form.css")).read_bytes()
        form_times, bare_times = [], []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            client.get(url)
            form_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            client.get("/health/")
            bare_times.append(time.perf_counter() - start)
        form, base = statistics.median(form_times), statistics.median(bare_times)
        p99 = statistics.quantiles(form_times, n=100)[98]
        total = len(html) + len(css)
        print("| measure | value |\n|---|---|")
        print(f"| HTML of the first step | {len(html):,} bytes |")
        print(f"| stylesheet (cached after the first page) | {len(css):,} bytes |")
        print(
            f"| total | {total:,} bytes ({total / BUDGET_BYTES:.0%} of the 20 KB budget: "
            f"{'met' if total < BUDGET_BYTES else 'MISSED'}) |"
        )
        script = Path(finders.find("surveys/form.js")).read_bytes()
        embed = Path(finders.find("surveys/embed.js")).read_bytes()
        print(f"| form.js, optional enhancement (deferred, gzipped) | {len(gzip.compress(script, 9)):,} bytes |")
        print(f"| embed.js, gzipped (budget 5 KB) | {len(gzip.compress(embed, 9)):,} bytes |")
        print("| fonts, external requests | none |")
        print(f"| server time, median / p99 | {form * 1000:.2f} ms / {p99 * 1000:.2f} ms |")
        print(f"| `/health/` median (baseline) | {base * 1000:.2f} ms |")
        print(f"| ratio form / baseline | {form / base:.1f}× |")
        print(f"| rounds (both through Django's test client) | {ROUNDS} |")


if __name__ == "__main__":
    main()
