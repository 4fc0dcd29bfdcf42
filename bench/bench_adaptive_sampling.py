"""Adaptive sampling (issue 6) by seeded simulation: target precision against a fixed rate.

Every scenario draws, per seed, a stream of eligible events (uniform over each period,
Poisson count), and for each event the customer's would-be answer: answers with the
response rate, after an exponential delay (mean 12 h, never after 7 days), promoter /
passive / detractor at 45/30/25 (NPS 20). Both designs see the same stream and the same
hash points (common random numbers): the fixed rate invites every event whose point is
below it; precision mode runs batch by batch (hourly) through the engine's own
``surveys.precision.plan`` with the counts the engine would read at that moment. Per period
(by answer time, as the reports count): invitations made, answers, the adjusted-Wald 95%
half-width, and whether that interval covers the true NPS. The "hindsight" fixed rate is the
smallest rate that reaches the target in 95% of the scenario's periods, found by bisection
on the same streams: a rate nobody knows in advance, shown to separate "30% was more than
needed" from what adaptation itself adds.

No database. Run: ``.venv/bin/python bench/run.py bench/bench_adaptive_sampling.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import common  # noqa: F401 - sets Django up (surveys.precision imports the models)
import numpy as np

from surveys.precision import PeriodTotals, Scenario, Stream, simulate_fixed, simulate_precision, simulate_stream

SEEDS = 40
PERIODS = 13  # a quarter of weeks per seed: 520 periods per scenario
FIXED_RATE = 0.30
REACH_SHARE = 0.95


@dataclass(frozen=True)
class Case:
    name: str
    scenario: Scenario


CASES = [
    Case("5,000/week, ceiling 30% (the issue's)", Scenario(periods=PERIODS)),
    Case("5,000/week, ceiling 100%", Scenario(periods=PERIODS, ceiling=1.0)),
    Case("20,000/week, ceiling 30%", Scenario(periods=PERIODS, events_per_period=20_000)),
    Case("2,000/week, ceiling 30%", Scenario(periods=PERIODS, events_per_period=2_000)),
    Case("2,000/week, ceiling 100%", Scenario(periods=PERIODS, events_per_period=2_000, ceiling=1.0)),
    Case("1,000/week, ceiling 100%", Scenario(periods=PERIODS, events_per_period=1_000, ceiling=1.0)),
    Case(
        "5,000/week varying (volume ×e^N(0, 0.5²), rate 12–28%), ceiling 30%",
        Scenario(periods=PERIODS, volume_sd=0.5, response_rate_spread=0.08),
    ),
    Case(
        "5,000/week varying, ceiling 100%",
        Scenario(periods=PERIODS, volume_sd=0.5, response_rate_spread=0.08, ceiling=1.0),
    ),
    Case(
        "3,000/day, daily periods, ceiling 100%",
        Scenario(periods=30, events_per_period=3_000, period_days=1, ceiling=1.0),
    ),
]


def pooled(totals: list[PeriodTotals], true_nps: float) -> dict[str, np.ndarray]:
    return {
        "invitations": np.concatenate([t.invitations for t in totals]),
        "answers": np.concatenate([t.counts.sum(axis=1) for t in totals]),
        "half_width": np.concatenate([t.half_widths() for t in totals]),
        "covered": np.concatenate([t.covered(true_nps) for t in totals]),
    }


def hindsight_rate(streams: list[Stream], target: float) -> float:
    """The smallest fixed rate (to 0.1 point) with the target reached in REACH_SHARE of all periods."""

    def reached(rate: float) -> float:
        return float(np.mean(np.concatenate([simulate_fixed(s, rate).half_widths() <= target for s in streams])))

    low, high = 0.0, 1.0
    if reached(high) < REACH_SHARE:
        return float("nan")
    while high - low > 0.001:
        middle = (low + high) / 2
        low, high = (low, middle) if reached(middle) >= REACH_SHARE else (middle, high)
    return high


def describe(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    return f"{np.median(finite):.1f} ({np.percentile(finite, 95):.1f})"


def main() -> None:
    rows = []
    started = time.perf_counter()
    for case in CASES:
        scenario = case.scenario
        streams = [simulate_stream(scenario, np.random.default_rng(seed)) for seed in range(SEEDS)]
        fixed = pooled([simulate_fixed(s, FIXED_RATE) for s in streams], scenario.true_nps)
        precise_totals = [simulate_precision(s) for s in streams]
        precise = pooled(precise_totals, scenario.true_nps)
        best_rate = hindsight_rate(streams, scenario.target_half_width)
        best = (
            pooled([simulate_fixed(s, best_rate) for s in streams], scenario.true_nps)
            if np.isfinite(best_rate)
            else None
        )
        saving = 1 - precise["invitations"].sum() / fixed["invitations"].sum()
        per_period_saving = 1 - precise["invitations"] / np.maximum(fixed["invitations"], 1)
        first = np.array([t.invitations[0] for t in precise_totals])
        later = np.concatenate([t.invitations[1:] for t in precise_totals])
        rows.append(
            {
                "cold_start": (float(first.mean()), float(later.mean())),
                "case": case.name,
                "periods": fixed["invitations"].size,
                "fixed": fixed,
                "precise": precise,
                "saving": saving,
                "nothing_saved": float(np.mean(per_period_saving <= 0.01)),
                "best_rate": best_rate,
                "best": best,
                "target": scenario.target_half_width,
            }
        )
    elapsed = time.perf_counter() - started

    print(
        f"Seeded simulation, no database: {SEEDS} seeds × {PERIODS} weekly periods per scenario (daily: 30 days), "
        "NPS 20 (45/30/25), 20% answer unless stated, answers after an exponential delay (mean 12 h), target ±10 "
        "NPS points, fixed rate 30%. Precision mode runs hourly batches through `surveys.precision.plan`. "
        'Half-widths are adjusted-Wald 95%, per period by answer time; "median (p95)" over periods.\n'
    )
    print(
        "| scenario | periods | fixed 30%: invitations / period | answers | ± half-width | covers NPS 20 "
        "| precision: invitations / period | answers | ± half-width | ≤ ±10 reached | covers NPS 20 "
        "| saved vs 30% | periods saving nothing |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        fixed, precise = row["fixed"], row["precise"]
        print(
            f"| {row['case']} | {row['periods']} "
            f"| {fixed['invitations'].mean():,.0f} | {fixed['answers'].mean():,.0f} | {describe(fixed['half_width'])} "
            f"| {100 * fixed['covered'].mean():.1f}% "
            f"| {precise['invitations'].mean():,.0f} | {precise['answers'].mean():,.0f} "
            f"| {describe(precise['half_width'])} | {100 * np.mean(precise['half_width'] <= row['target']):.0f}% "
            f"| {100 * precise['covered'].mean():.1f}% | {100 * row['saving']:.1f}% "
            f"| {100 * row['nothing_saved']:.0f}% |"
        )
    print()
    first, later = rows[0]["cold_start"]
    print(
        f"Cold start, {rows[0]['case']}: a rule's first period (no history: prior variance 0.8, prior response "
        f"rate 15%) made {first:,.0f} invitations on average, later periods {later:,.0f}.\n"
    )
    print(
        f"Against hindsight: the smallest fixed rate reaching ±10 in {REACH_SHARE:.0%} of the same periods "
        "(known only after the fact, and only for a stream that does not change):\n"
    )
    print(
        "| scenario | hindsight rate | its invitations / period | precision invitations / period "
        "| precision ≤ ±10 reached | precision vs hindsight |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        best, precise = row["best"], row["precise"]
        reached = f"{100 * np.mean(precise['half_width'] <= row['target']):.0f}%"
        if best is None:
            print(
                f"| {row['case']} | none reaches ±10 in {REACH_SHARE:.0%} (even 100%) | – "
                f"| {precise['invitations'].mean():,.0f} | {reached} | – |"
            )
            continue
        versus = 1 - precise["invitations"].sum() / best["invitations"].sum()
        note = " (target not reached: not comparable)" if np.mean(precise["half_width"] <= row["target"]) < 0.5 else ""
        print(
            f"| {row['case']} | {100 * row['best_rate']:.1f}% | {best['invitations'].mean():,.0f} "
            f"| {precise['invitations'].mean():,.0f} | {reached} "
            f"| {100 * abs(versus):.1f}% {'fewer' if versus >= 0 else 'more'}{note} |"
        )
    print(f"\nSimulation time: {elapsed:.0f} s.")


if __name__ == "__main__":
    main()
