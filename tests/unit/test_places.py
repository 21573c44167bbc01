"""The packed place records (dispatch/stats/places.py) against plain Python counting."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dispatch.stats import places

T0 = datetime(2026, 10, 1, tzinfo=UTC)
#: cell numbers are given in order of first sight, not of code: number 0 is the last code
CODES = ("450103901003007", "450103901001001", "450103902001002", "450103901001002")
STREETS = tuple(c[:9] for c in CODES)

record = st.tuples(
    st.integers(0, len(CODES) - 1),  # cell number
    st.integers(1, 5),  # cases
    st.integers(0, 10**6),  # first, seconds after T0
    st.integers(0, 10**6),  # how much later the last
)
rows = st.lists(st.lists(record, max_size=8), max_size=5)
TYPES = ("06010", "09009")


def packed(row: list[tuple[int, int, int, int]]) -> bytes:
    return places.pack(
        [
            (cell, n, T0 + timedelta(seconds=f), T0 + timedelta(seconds=f + d))
            for cell, n, f, d in row
        ]
    )


def naive(rows_: list[list[tuple[int, int, int, int]]]) -> dict[int, tuple[int, int, int]]:
    out: dict[int, tuple[int, int, int]] = {}
    for row in rows_:
        for cell, n, f, d in row:
            m, a, b = out.get(cell, (0, 10**9, -1))
            out[cell] = (m + n, min(a, f), max(b, f + d))
    return out


@given(rows)
def test_merged_rows_sum_the_cases_and_keep_the_first_and_last(
    rows_: list[list[tuple[int, int, int, int]]],
) -> None:
    m = places.merged([places.unpack(packed(r)) for r in rows_])
    assert list(m["cell"]) == sorted(m["cell"])
    got = {
        int(r["cell"]): (
            int(r["n"]),
            (places.from_us(int(r["first"])) - T0) // timedelta(seconds=1),
            (places.from_us(int(r["last"])) - T0) // timedelta(seconds=1),
        )
        for r in m
    }
    assert got == naive(rows_)


def test_a_time_survives_packing_to_the_microsecond() -> None:
    t = datetime(2026, 10, 13, 0, 50, 12, 345678, tzinfo=UTC)
    a = places.unpack(places.pack([(2, 1, t, t)]))
    assert places.from_us(int(a["first"][0])) == t
    assert places.to_us(t.replace(tzinfo=None)) == places.to_us(t)


@given(st.lists(rows, min_size=1, max_size=2), st.sampled_from(["", "450103901", "4501039010"]),
       st.integers(1, 6), st.integers(1, 4))  # fmt: skip
def test_busiest_cells_streets_and_repeats_as_counted_by_hand(
    by_type_rows: list[list[list[tuple[int, int, int, int]]]],
    prefix: str,
    min_cases: int,
    limit: int,
) -> None:
    book = places.CellBook(CODES, STREETS)
    by_type = {
        et: [places.unpack(packed(r)) for r in rs]
        for et, rs in zip(TYPES, by_type_rows, strict=False)
    }
    per_type = {et: naive(rs) for et, rs in zip(TYPES, by_type_rows, strict=False)}
    inside = {i for i, c in enumerate(CODES) if c.startswith(prefix)}

    cell_sum: dict[int, int] = defaultdict(int)
    for counted in per_type.values():
        for cell, (n, _, _) in counted.items():
            if cell in inside:
                cell_sum[cell] += n
    totals = places.cell_totals(book, [a for p in by_type.values() for a in p], prefix)
    expected = sorted(
        ((CODES[c], n) for c, n in cell_sum.items() if n >= min_cases), key=lambda x: (-x[1], x[0])
    )
    assert places.busiest(book, totals, limit, min_cases) == expected[:limit]

    street_sum: dict[str, int] = defaultdict(int)
    for cell, n in cell_sum.items():
        street_sum[STREETS[cell]] += n
    assert places.street_totals(book, totals) == {k: v for k, v in street_sum.items() if v}

    want = sorted(
        (
            (-n, CODES[cell], et, T0 + timedelta(seconds=a), T0 + timedelta(seconds=b))
            for et, counted in per_type.items()
            for cell, (n, a, b) in counted.items()
            if cell in inside and n >= min_cases
        ),
        key=lambda x: x[:3],
    )[:limit]
    got = places.repeats(book, by_type, min_cases, limit, prefix)
    assert [(-r.cases, r.cell, r.event_type, r.first, r.last) for r in got] == want


def test_no_rows_count_nothing() -> None:
    book = places.CellBook(CODES, STREETS)
    assert places.busiest(book, places.cell_totals(book, []), 10) == []
    assert places.repeats(book, {}, 1, 10) == []
    assert len(places.merged([])) == 0
