"""Multiplicity correction of a family of one-sided tests: Holm, Benjamini–Hochberg, graphical.

:func:`adjust` corrects many journeys (rows) at once; :func:`graph_adjusted` is the
graphical weighted-Bonferroni procedure of Bretz et al., and :func:`hierarchy` builds
its graph for the below-the-journey family (stages first, then their touchpoints).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from analytics.friction.settings import CORRECTIONS, Bools, Floats


def adjust(
    p_values: npt.ArrayLike,
    tested: npt.ArrayLike,
    *,
    method: str,
    alpha: float,
    family_of: Callable[[int], tuple[Floats, Floats] | None] | None = None,
) -> tuple[Bools, Floats]:
    """Correct each row (a journey) over its tested units: ``(rejected, p_adjusted)``.

    Holm's step-down or Benjamini–Hochberg's step-up adjusted p-values, computed for
    all rows at once; they equal ``statsmodels.stats.multitest.multipletests`` (the
    tests check it on random families). statsmodels itself is not called per row
    because its Holm branch runs ``gc.collect()`` on every call (statsmodels 0.15;
    PR #8671 proposed removing it): about 45 ms a journey in a Django process, which
    makes a report slow and a simulation of thousands of journeys impractical.
    ``family_of(row)``, when given and not ``None`` for a row, returns ``(weights,
    transitions)`` of a graphical procedure for that row's tested units instead
    (:func:`graph_adjusted`). A unit is rejected when its adjusted p-value is ≤ α.
    """
    p = np.atleast_2d(np.asarray(p_values, dtype=float))
    valid = np.atleast_2d(np.asarray(tested, dtype=bool)) & np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    if p.shape[1] and valid.any():
        keys = np.where(valid, p, np.inf)
        order = np.argsort(keys, axis=1, kind="stable")
        ordered = np.take_along_axis(keys, order, axis=1)
        size = valid.sum(axis=1, keepdims=True)
        rank = np.arange(1, p.shape[1] + 1)[None, :]
        inside = rank <= size
        with np.errstate(invalid="ignore"):
            if method == "holm":
                raw = np.where(inside, (size - rank + 1) * ordered, np.inf)
                stepped = np.maximum.accumulate(raw, axis=1)
            elif method == "fdr_bh":
                raw = np.where(inside, size * ordered / rank, np.inf)
                stepped = np.minimum.accumulate(raw[:, ::-1], axis=1)[:, ::-1]
            else:
                raise ValueError(f"correction must be one of {CORRECTIONS}, got {method!r}")
        np.put_along_axis(adjusted, order, np.minimum(stepped, 1.0), axis=1)
        adjusted[~valid] = np.nan
    if family_of is not None:
        for row in range(p.shape[0]):
            graph = family_of(row) if valid[row].any() else None
            if graph is not None:
                adjusted[row, valid[row]] = graph_adjusted(p[row, valid[row]], *graph)
    with np.errstate(invalid="ignore"):
        rejected = valid & (adjusted <= alpha)
    return rejected, adjusted


def graph_adjusted(p_values: Floats, weights: Floats, transitions: Floats) -> Floats:
    """Adjusted p-values of a graphical weighted-Bonferroni procedure (Bretz et al. 2009/2011).

    ``weights`` (summing to at most 1) split α among the hypotheses at the start;
    ``transitions[i, j]`` is the share of hypothesis i's weight that moves to j once
    i is rejected (rows sum to at most 1). Repeatedly take the hypothesis with the
    smallest ``p / weight``, record the running maximum of that ratio as its adjusted
    p-value, and pass its weight on along the updated graph. Reject where the
    adjusted p-value is at most α. The complete graph with equal weights is Holm.
    """
    p = np.asarray(p_values, dtype=float)
    w = np.asarray(weights, dtype=float).copy()
    graph = np.asarray(transitions, dtype=float).copy()
    size = p.size
    adjusted = np.ones(size)
    active = np.ones(size, dtype=bool)
    running = 0.0
    for _step in range(size):
        candidates = active & (w > 0)
        if not candidates.any():
            break
        with np.errstate(divide="ignore"):
            ratio = np.where(candidates, p / np.where(candidates, w, 1.0), np.inf)
        j = int(np.argmin(ratio))
        running = max(running, min(1.0, float(ratio[j])))
        if running >= 1.0:
            break  # every hypothesis left has adjusted p-value 1
        adjusted[j] = running
        active[j] = False
        outgoing, incoming = graph[j].copy(), graph[:, j].copy()
        w = w + w[j] * outgoing
        w[j] = 0.0
        denominator = 1.0 - incoming * outgoing
        updated = graph + np.outer(incoming, outgoing)
        safe = denominator > 1e-12
        graph = np.where(safe[:, None], updated / np.where(safe, denominator, 1.0)[:, None], 0.0)
        np.fill_diagonal(graph, 0.0)
        graph[j, :] = 0.0
        graph[:, j] = 0.0
        w[~active] = 0.0
    return adjusted


def hierarchy(parents: Sequence[int], n_stages: int, tested: Bools) -> tuple[Floats, Floats] | None:
    """The graph of the below-the-journey family: stages first, then their touchpoints.

    Units are the ``n_stages`` stages followed by the touchpoints, ``parents[t]`` the
    stage index of touchpoint t (−1 for none). Returns ``(weights, transitions)`` over
    the *tested* units in order, or ``None`` when no touchpoint is tested (plain Holm).
    Roots (tested stages, and tested touchpoints whose stage is not tested) share α
    equally. A root stage passes its weight to its tested touchpoints, or to the other
    roots when it has none; a touchpoint passes its weight in equal parts to each
    sibling and to the other roots (that part split among them).
    """
    index = np.flatnonzero(tested)
    if not (index >= n_stages).any():
        return None
    position = {int(unit): k for k, unit in enumerate(index)}
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for raw in index:
        unit = int(raw)
        parent = int(parents[unit - n_stages]) if unit >= n_stages else -1
        if unit >= n_stages and parent >= 0 and parent in position:
            children.setdefault(parent, []).append(unit)
        else:
            roots.append(unit)
    size = index.size
    weights = np.zeros(size)
    transitions = np.zeros((size, size))
    for root in roots:
        weights[position[root]] = 1.0 / len(roots)
        targets = children.get(root) or [other for other in roots if other != root]
        for target in targets:
            transitions[position[root], position[target]] = 1.0 / len(targets)
    for parent, kids in children.items():
        others = [root for root in roots if root != parent]
        for kid in kids:
            parts: list[list[int]] = [[sibling] for sibling in kids if sibling != kid] + ([others] if others else [])
            for part in parts:
                for target in part:
                    transitions[position[kid], position[target]] += 1.0 / len(parts) / len(part)
    return weights, transitions
