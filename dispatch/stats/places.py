"""Cases reported per cell, packed: what the hotspot layer and the repeat places read.

A year of a large city holds about as many (cell, event type) pairs as it holds cases (the
cases are spread thin over tens of thousands of cells and dozens of types), so rows per
pair would save the hotspot queries nothing over counting the cases. Instead one stored
row holds a whole (day or month, event type): a packed array of (cell number, cases,
first and last report time), and a year of a class is a few hundred rows that numpy sums
in one pass. Cell numbers are stable (``stats_cell_key``: assigned on first sight, never
reused), so rows of different days and grid versions add up.

Pure: no I/O; the rollup writes the rows and ``hotspots`` reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

#: one packed record: the cell's number, its cases, its first and last report (µs, UTC)
PLACE = np.dtype([("cell", "<u4"), ("n", "<u4"), ("first", "<i8"), ("last", "<i8")])
EMPTY = np.zeros(0, dtype=PLACE)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(t: datetime) -> int:
    """A time as whole microseconds since 1970 (UTC), exactly."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def pack(records: Sequence[tuple[int, int, datetime, datetime]]) -> bytes:
    """(cell number, cases, first, last) records as one blob, sorted by cell number."""
    a = np.array(
        [(cell, n, to_us(first), to_us(last)) for cell, n, first, last in records], dtype=PLACE
    )
    return merged([a]).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=PLACE)


def merged(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The records of several rows as one per cell: cases summed, first the earliest and
    last the latest; sorted by cell number."""
    a = np.concatenate(parts) if parts else EMPTY
    if len(a) == 0:
        return EMPTY.copy()
    a = a[np.argsort(a["cell"], kind="stable")]
    starts = np.flatnonzero(np.r_[True, a["cell"][1:] != a["cell"][:-1]])
    out = np.empty(len(starts), dtype=PLACE)
    out["cell"] = a["cell"][starts]
    out["n"] = np.add.reduceat(a["n"], starts)
    out["first"] = np.minimum.reduceat(a["first"], starts)
    out["last"] = np.maximum.reduceat(a["last"], starts)
    return out


@dataclass(frozen=True)
class CellBook:
    """The cell numbers as read back: each number's code and street, and the order of the
    codes (ties in the hotspot lists go by code)."""

    codes: tuple[str, ...]
    streets: tuple[str, ...]
    rank: np.ndarray = field(init=False, repr=False, compare=False)
    street_no: np.ndarray = field(init=False, repr=False, compare=False)
    street_codes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _masks: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        rank = np.empty(len(self.codes), dtype=np.int64)
        rank[sorted(range(len(self.codes)), key=self.codes.__getitem__)] = np.arange(
            len(self.codes)
        )
        street_codes = tuple(sorted(set(self.streets)))
        index = {c: i for i, c in enumerate(street_codes)}
        object.__setattr__(self, "rank", rank)
        object.__setattr__(self, "street_codes", street_codes)
        object.__setattr__(
            self, "street_no", np.array([index[s] for s in self.streets], dtype=np.int64)
        )

    def __len__(self) -> int:
        return len(self.codes)

    def within(self, prefix: str) -> np.ndarray | None:
        """Which cell numbers lie in the area ``prefix`` (None: all of them)."""
        if not prefix:
            return None
        mask = self._masks.get(prefix)
        if mask is None:
            mask = np.array([c.startswith(prefix) for c in self.codes], dtype=bool)
            self._masks[prefix] = mask
        return mask


def cell_totals(book: CellBook, parts: Sequence[np.ndarray], prefix: str = "") -> np.ndarray:
    """Cases per cell number (all numbers; zero outside ``prefix``)."""
    totals = np.zeros(len(book), dtype=np.int64)
    for a in parts:
        totals += np.bincount(a["cell"], weights=a["n"], minlength=len(book)).astype(np.int64)
    mask = book.within(prefix)
    if mask is not None:
        totals[~mask] = 0
    return totals


def busiest(
    book: CellBook, totals: np.ndarray, limit: int, min_cases: int = 1
) -> list[tuple[str, int]]:
    """The ``limit`` cells with the most cases (at least ``min_cases``), ties by code."""
    cells = np.flatnonzero(totals >= max(min_cases, 1))
    order = np.lexsort((book.rank[cells], -totals[cells]))[:limit]
    return [(book.codes[i], int(totals[i])) for i in cells[order]]


def street_totals(book: CellBook, totals: np.ndarray) -> dict[str, int]:
    """Cases per street code, from the cells' totals (streets with none left out)."""
    sums = np.bincount(book.street_no, weights=totals, minlength=len(book.street_codes))
    return {book.street_codes[i]: int(sums[i]) for i in np.flatnonzero(sums)}


@dataclass(frozen=True, slots=True)
class Repeat:
    cell: str
    event_type: str
    cases: int
    first: datetime
    last: datetime


def repeats(
    book: CellBook,
    by_type: Mapping[str, Sequence[np.ndarray]],
    min_cases: int,
    limit: int,
    prefix: str = "",
) -> list[Repeat]:
    """The ``limit`` (cell, event type) pairs with the most cases, at least ``min_cases``,
    most first (ties by cell code, then type)."""
    mask = book.within(prefix)
    types = sorted(by_type)
    kept, type_no = [], []
    for t, et in enumerate(types):
        m = merged(by_type[et])
        keep = m["n"] >= max(min_cases, 1)
        if mask is not None:
            keep &= mask[m["cell"]]
        kept.append(m[keep])
        type_no.append(np.full(int(keep.sum()), t, dtype=np.int64))
    if not kept:
        return []
    a, t_no = np.concatenate(kept), np.concatenate(type_no)
    order = np.lexsort((t_no, book.rank[a["cell"]], -a["n"].astype(np.int64)))[:limit]
    return [
        Repeat(book.codes[a["cell"][i]], types[t_no[i]], int(a["n"][i]),
               from_us(a["first"][i]), from_us(a["last"][i]))
        for i in order
    ]  # fmt: skip
