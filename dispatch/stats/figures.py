"""The evaluation figures (绩效评价): what is counted, how tallies add up, rates and scores.

Pure: no I/O, no framework. Every figure is a count of things that happened on one day, so
the tally of any period is the sum of its days (and of its months); rates, averages and
percentiles are computed from the summed tallies. Definitions and formulas, with their
sources, are in ``docs/evaluation.md``.

Time-to-step percentiles come from log-scale histograms (the DDSketch mapping): a duration
of ``x ≥ 1`` seconds goes to bucket ``ceil(log_γ x)`` and a bucket stands for
``2γ^k / (γ + 1)``, so any percentile read back is within ``(γ − 1) / (γ + 1)`` (4.3 %) of
the exact one, and histograms of days and months add up like the counts do.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np


@dataclass(frozen=True, slots=True)
class Label:
    key: str
    zh: str
    en: str


#: counted figures, in display order (the first group is about cases, the second tickets)
COUNTS: tuple[Label, ...] = (
    Label("reports", "受理数", "Reports received"),
    Label("cases", "新案卷数", "New cases"),
    Label("registered", "立案数", "Registered"),
    Label("rejected", "不予立案数", "Not registered"),
    Label("voided", "作废数", "Voided"),
    Label("self_handled", "自处理数", "Self-handled"),
    Label("dispatched", "派遣数", "Dispatched"),
    Label("dispatched_on_time", "按时派遣数", "Dispatched on time"),
    Label("reassigned", "改派数", "Reassigned"),
    Label("reworked", "返工数", "Reworked"),
    Label("reopened", "重办数", "Reopened"),
    Label("closed", "结案数", "Closed"),
    Label("due", "应结案数", "Due to close"),
    Label("closed_on_time", "按期结案数", "Closed on time"),
    Label("tickets", "任务派遣数", "Tasks dispatched"),
    Label("accepted", "签收数", "Tasks accepted"),
    Label("accepted_on_time", "按时签收数", "Accepted on time"),
    Label("returned", "回退数", "Returned"),
    Label("extensions", "延期数", "Extensions"),
    Label("resolved", "处置数", "Tasks resolved"),
    Label("resolved_on_time", "按期处置数", "Resolved on time"),
    Label("overdue", "超期数", "Deadlines missed"),
)
COUNT_KEYS: tuple[str, ...] = tuple(c.key for c in COUNTS)

#: steps whose time is measured (average and p90)
STEPS: tuple[Label, ...] = (
    Label("dispatch", "派遣用时", "Report to dispatch"),
    Label("accept", "签收用时", "Dispatch to acceptance"),
    Label("resolve", "处置用时", "Dispatch to resolution"),
    Label("verify", "核查用时", "Resolution to check"),
    Label("close", "结案用时", "Report to close"),
)
STEP_KEYS: tuple[str, ...] = tuple(s.key for s in STEPS)


@dataclass(frozen=True, slots=True)
class Rate:
    """``numerator / denominator``, or ``1 − numerator / denominator`` when ``complement``."""

    key: str
    zh: str
    en: str
    numerator: str
    denominator: tuple[str, ...]
    complement: bool = False


RATES: tuple[Rate, ...] = (
    Rate("registration_rate", "立案率", "Registration rate", "registered",
         ("registered", "rejected")),
    Rate("dispatch_on_time_rate", "按时派遣率", "Dispatched on time", "dispatched_on_time",
         ("dispatched",)),
    Rate("dispatch_accuracy", "准确派遣率", "Dispatch accuracy", "returned", ("tickets",),
         complement=True),
    Rate("closure_rate", "结案率", "Closure rate", "closed", ("registered",)),
    Rate("on_time_closure_rate", "按期结案率", "Closed on time", "closed_on_time", ("due",)),
    Rate("rework_rate", "返工率", "Rework rate", "reworked", ("closed",)),
    Rate("accept_on_time_rate", "按时签收率", "Accepted on time", "accepted_on_time",
         ("accepted",)),
    Rate("resolve_on_time_rate", "按期处置率", "Resolved on time", "resolved_on_time",
         ("resolved_on_time", "overdue")),
    Rate("extension_rate", "延期率", "Extension rate", "extensions", ("tickets",)),
)  # fmt: skip
RATE_KEYS: tuple[str, ...] = tuple(r.key for r in RATES)

#: rates where lower is better: the composite score uses ``1 − rate``
LOWER_IS_BETTER = frozenset({"rework_rate", "extension_rate"})

#: default composite weights for a unit, after CJ/T 292's 专业部门 score (see evaluation.md)
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "closure_rate": 0.3,
    "resolve_on_time_rate": 0.3,
    "rework_rate": 0.3,
    "accept_on_time_rate": 0.1,
}

GAMMA = 2 ** (1 / 8)
#: the largest relative error of a percentile read from a histogram
RELATIVE_ACCURACY = (GAMMA - 1) / (GAMMA + 1)
_LOG_GAMMA = math.log(GAMMA)
ZERO_BUCKET = -1  # durations under one second (auto-dispatch at intake takes none)
MAX_BUCKET = 510  # γ^510 s is 10^11 years: nothing real is longer


def bucket(seconds: float) -> int:
    """The histogram bucket of a duration in seconds."""
    if seconds < 1:
        return ZERO_BUCKET
    return min(MAX_BUCKET, math.ceil(math.log(seconds) / _LOG_GAMMA - 1e-9))


def bucket_value(key: int) -> float:
    """The duration a bucket stands for (its relative error is at most RELATIVE_ACCURACY)."""
    if key == ZERO_BUCKET:
        return 0.0
    return 2 * GAMMA**key / (GAMMA + 1)


@dataclass(slots=True)
class StepTally:
    n: int = 0
    total_s: int = 0
    hist: dict[int, int] = field(default_factory=dict)

    def add_duration(self, seconds: float) -> None:
        s = max(0, round(seconds))
        self.n += 1
        self.total_s += s
        k = bucket(s)
        self.hist[k] = self.hist.get(k, 0) + 1

    def add(self, other: StepTally) -> None:
        self.n += other.n
        self.total_s += other.total_s
        for k, v in other.hist.items():
            self.hist[k] = self.hist.get(k, 0) + v

    def average_s(self) -> float | None:
        return self.total_s / self.n if self.n else None

    def percentile_s(self, q: float) -> float | None:
        """Nearest rank: the value of the ``ceil(q · n)``-th smallest duration."""
        return percentile(self.hist, q)


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    n = sum(hist.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n - 1e-9))
    seen = 0
    for k in sorted(hist):
        seen += hist[k]
        if seen >= rank:
            return bucket_value(k)
    raise AssertionError("unreachable: the ranks add up to n")


@dataclass(slots=True)
class Tally:
    """Counts and step times of one group (a unit, an area, an event type) over some days."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    steps: dict[str, StepTally] = field(default_factory=lambda: {k: StepTally() for k in STEP_KEYS})

    def count(self, key: str, k: int = 1) -> None:
        self.counts[key] += k

    def add(self, other: Tally) -> None:
        for key, v in other.counts.items():
            self.counts[key] += v
        for key, st in other.steps.items():
            self.steps[key].add(st)

    def is_empty(self) -> bool:
        return not any(self.counts.values()) and not any(s.n for s in self.steps.values())

    # -- the flat form stored in a cube row: one column per count, n and sum per step,
    # -- and the sparse histograms as one JSON-able mapping

    def columns(self) -> dict[str, int]:
        out = dict(self.counts)
        for key, st in self.steps.items():
            out[f"{key}_n"] = st.n
            out[f"{key}_s"] = st.total_s
        return out

    def packed_hists(self) -> bytes | None:
        """The histograms as packed (step, bucket, count) records (see :data:`HIST`)."""
        rows = [
            (i, k, v)
            for i, key in enumerate(STEP_KEYS)
            for k, v in sorted(self.steps[key].hist.items())
        ]
        return np.array(rows, dtype=HIST).tobytes() if rows else None

    @classmethod
    def from_columns(cls, cols: Mapping[Any, Any]) -> Tally:
        t = cls()
        for key in COUNT_KEYS:
            t.counts[key] = int(cols.get(key) or 0)
        for key in STEP_KEYS:
            st = t.steps[key]
            st.n = int(cols.get(f"{key}_n") or 0)
            st.total_s = int(cols.get(f"{key}_s") or 0)
        return t


#: one histogram entry as stored: step (index into STEP_KEYS), bucket, count; 7 bytes
HIST = np.dtype([("step", "u1"), ("key", "<i2"), ("n", "<i4")])
_SPAN = MAX_BUCKET + 2  # bucket + 1 in [0, _SPAN)
K = TypeVar("K", bound=Hashable)


#: above this many (group, step, bucket) cells the sum sorts the entries instead of
#: counting them into one array per cell (4 M cells: 32 MB of float64)
_DENSE_CELLS = 1 << 22


def add_packed(
    tallies: MutableMapping[K, Tally], keys: Sequence[K], blobs: Sequence[bytes]
) -> None:
    """Add many stored histograms (``blobs[i]`` to ``tallies[keys[i]]``) in one pass.

    Vectorised: a year of cube rows holds millions of entries, too many for a Python loop.
    Each entry gets one code (group, step, bucket), the counts are summed per code (counted
    straight into an array when the codes are few enough, which costs a fiftieth of
    sorting them), and each (group, step) histogram is filled from its run of codes. The
    tallies' n and sums come from the columns; this adds only the buckets.
    """
    if not blobs:
        return
    data = np.frombuffer(b"".join(blobs), dtype=HIST)
    groups = list(dict.fromkeys(keys))
    index = {g: i for i, g in enumerate(groups)}
    lengths = np.fromiter((len(b) // HIST.itemsize for b in blobs), np.int64, len(blobs))
    gid = np.repeat(np.fromiter((index[k] for k in keys), np.int64, len(keys)), lengths)
    code = (gid * len(STEP_KEYS) + data["step"]) * _SPAN + data["key"].astype(np.int64) + 1
    n_cells = len(groups) * len(STEP_KEYS) * _SPAN
    if n_cells <= _DENSE_CELLS:
        dense = np.bincount(code, weights=data["n"], minlength=n_cells)
        uniq = np.flatnonzero(dense)
        sums = dense[uniq].astype(np.int64)
    else:
        uniq, inverse = np.unique(code, return_inverse=True)
        sums = np.bincount(inverse, weights=data["n"]).astype(np.int64)
    # the codes are sorted: each (group, step) is one run of them
    run, bucket_ = np.divmod(uniq, _SPAN)
    starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    bounds = np.r_[starts, len(uniq)].tolist()
    buckets, counts = (bucket_ - 1).tolist(), sums.tolist()
    for i, r in enumerate(run[starts].tolist()):
        g, step = divmod(r, len(STEP_KEYS))
        hist = tallies[groups[g]].steps[STEP_KEYS[step]].hist
        a, b = bounds[i], bounds[i + 1]
        if hist:
            for k, n in zip(buckets[a:b], counts[a:b], strict=True):
                hist[k] = hist.get(k, 0) + n
        else:
            hist.update(zip(buckets[a:b], counts[a:b], strict=True))


def column_names() -> tuple[str, ...]:
    """Every numeric column of a cube row, in order."""
    return COUNT_KEYS + tuple(f"{k}_{p}" for k in STEP_KEYS for p in ("n", "s"))


def rates(t: Tally) -> dict[str, float | None]:
    """Every rate of a tally; None where its denominator is zero."""
    out: dict[str, float | None] = {}
    for r in RATES:
        den = sum(t.counts[k] for k in r.denominator)
        if den == 0:
            out[r.key] = None
            continue
        value = t.counts[r.numerator] / den
        out[r.key] = 1 - value if r.complement else value
    return out


def step_figures(t: Tally, q: float = 0.9) -> dict[str, dict[str, float | int | None]]:
    """Per step: how many, the average and the ``q`` percentile in seconds."""
    return {
        key: {"n": st.n, "avg_s": st.average_s(), "p90_s": st.percentile_s(q)}
        for key, st in t.steps.items()
    }


def check_weights(weights: Mapping[str, float]) -> None:
    """Weights name known rates and are not negative; raise ValueError otherwise."""
    unknown = sorted(set(weights) - set(RATE_KEYS))
    if unknown:
        raise ValueError(f"unknown rate(s) in weights: {unknown}; known: {list(RATE_KEYS)}")
    bad = sorted(k for k, w in weights.items() if not (math.isfinite(w) and w >= 0))
    if bad:
        raise ValueError(f"weights must be finite and not negative: {bad}")
    if not any(weights.values()):
        raise ValueError("at least one weight must be positive")


def score(values: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """The weighted composite score, 0–100, over the rates that are defined.

    A rate with no denominator (a unit that led no case has no 结案率) is left out and the
    other weights are scaled up; rates above 1 (a period that clears a backlog) count as 1.
    """
    total_w = 0.0
    acc = 0.0
    for key, w in weights.items():
        v = values.get(key)
        if v is None or w == 0:
            continue
        v = min(max(v, 0.0), 1.0)
        acc += w * (1 - v if key in LOWER_IS_BETTER else v)
        total_w += w
    return 100 * acc / total_w if total_w else None


def total(tallies: Iterable[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        out.add(t)
    return out
