"""The pure figure arithmetic (dispatch.stats.figures) and the replay of one case's history
(dispatch.stats.history), with hand-computed values."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.citydata import EventType
from dispatch.stats import figures
from dispatch.stats.figures import (
    COUNT_KEYS,
    RELATIVE_ACCURACY,
    STEP_KEYS,
    StepTally,
    Tally,
    add_packed,
    bucket,
    bucket_value,
    check_weights,
    column_names,
    percentile,
    rates,
    score,
)
from dispatch.stats.history import CaseInfo, Ev, Rules, case_facts
from dispatch.stats.models import StatsCube
from dispatch.tickets.deadlines import WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")


@given(st.floats(min_value=1, max_value=1e9))
def test_a_bucket_stands_for_its_values_within_the_stated_accuracy(x: float) -> None:
    assert abs(bucket_value(bucket(x)) - x) <= RELATIVE_ACCURACY * x * (1 + 1e-12)


def test_durations_under_a_second_are_zero() -> None:
    assert bucket_value(bucket(0)) == 0
    assert bucket_value(bucket(0.4)) == 0
    assert pytest.approx(0.0433, abs=1e-4) == RELATIVE_ACCURACY


def test_p90_is_the_nearest_rank_value() -> None:
    st_ = StepTally()
    for s in range(1, 101):  # 1..100 minutes
        st_.add_duration(60 * s)
    assert st_.n == 100
    assert st_.total_s == 60 * 5050
    assert st_.average_s() == pytest.approx(60 * 50.5)
    p90 = st_.percentile_s(0.9)
    assert p90 is not None
    assert abs(p90 - 60 * 90) <= RELATIVE_ACCURACY * 60 * 90  # the 90th of 100 values
    assert percentile({}, 0.9) is None
    # 10 values: rank ceil(9) = 9, not the largest
    ten = StepTally()
    for s in (10, 20, 30, 40, 50, 60, 70, 80, 90, 10_000):
        ten.add_duration(s)
    p = ten.percentile_s(0.9)
    assert p is not None
    assert abs(p - 90) <= RELATIVE_ACCURACY * 90


def test_tallies_add_up_and_round_trip_through_columns() -> None:
    a, b = Tally(), Tally()
    a.count("closed", 2)
    a.steps["verify"].add_duration(1800)
    b.count("closed")
    b.count("registered", 4)
    b.steps["verify"].add_duration(3600)
    a.add(b)
    assert a.counts["closed"] == 3
    assert a.counts["registered"] == 4
    assert (a.steps["verify"].n, a.steps["verify"].total_s) == (2, 5400)
    back = {"a": Tally.from_columns(a.columns())}
    packed = a.packed_hists()
    assert packed is not None
    add_packed(back, ["a"], [packed])
    assert back["a"].counts == a.counts
    assert back["a"].steps["verify"].hist == a.steps["verify"].hist
    assert back["a"].steps["verify"].total_s == 5400
    assert Tally().packed_hists() is None


@pytest.mark.parametrize("dense", [True, False], ids=["counted", "sorted"])
@given(
    times=st.lists(
        st.tuples(
            st.sampled_from("xyz"),
            st.sampled_from(STEP_KEYS),
            st.one_of(st.floats(0, 1e9), st.sampled_from([0.0, 30.0, 600.0, 3600.0])),
        ),
        max_size=60,
    ),
    split=st.integers(0, 60),
)
def test_packed_histograms_add_up_like_the_tallies(
    dense: bool, times: list[tuple[str, str, float]], split: int
) -> None:
    """Both ways of summing (an array per code, or sorting the codes), into empty
    histograms and into histograms that already hold some (``split``)."""
    rows: list[tuple[str, Tally]] = []
    for group, step, seconds in times:
        t = Tally()
        t.steps[step].add_duration(seconds)
        rows.append((group, t))
    expected: dict[str, Tally] = {}
    for group, t in rows:
        expected.setdefault(group, Tally()).add(t)
    got: dict[str, Tally] = {g: Tally() for g in expected}
    with mock.patch.object(figures, "_DENSE_CELLS", figures._DENSE_CELLS if dense else 0):
        for part in (rows[:split], rows[split:]):
            add_packed(got, [g for g, _ in part], [t.packed_hists() or b"" for _, t in part])
    for g, t in expected.items():
        assert {k: s.hist for k, s in got[g].steps.items()} == {
            k: s.hist for k, s in t.steps.items()
        }


def test_the_cube_has_a_column_for_every_figure() -> None:
    cols = set(StatsCube.model_fields)
    assert set(column_names()) <= cols
    assert len(column_names()) == len(COUNT_KEYS) + 2 * len(STEP_KEYS)


def test_rates_follow_their_formulas() -> None:
    t = Tally()
    given = {"registered": 9, "rejected": 3, "dispatched": 8, "dispatched_on_time": 2,
             "tickets": 20, "returned": 5, "closed": 4, "due": 10, "closed_on_time": 7,
             "reworked": 3, "accepted": 16, "accepted_on_time": 12, "resolved_on_time": 6,
             "overdue": 2}  # fmt: skip
    for key, n in given.items():
        t.count(key, n)
    assert rates(t) == {
        "registration_rate": pytest.approx(9 / 12),
        "dispatch_on_time_rate": pytest.approx(2 / 8),
        "dispatch_accuracy": pytest.approx(1 - 5 / 20),
        "closure_rate": pytest.approx(4 / 9),
        "on_time_closure_rate": pytest.approx(7 / 10),
        "rework_rate": pytest.approx(3 / 4),
        "accept_on_time_rate": pytest.approx(12 / 16),
        "resolve_on_time_rate": pytest.approx(6 / 8),
        "extension_rate": 0.0,  # no extension among 20 tasks
    }
    assert all(v is None for v in rates(Tally()).values())


def test_score_leaves_out_undefined_rates_and_caps_at_one() -> None:
    weights = {"closure_rate": 0.3, "resolve_on_time_rate": 0.3, "rework_rate": 0.3,
               "accept_on_time_rate": 0.1}  # fmt: skip
    full = {"closure_rate": 4 / 3, "resolve_on_time_rate": 4 / 6, "rework_rate": 0.25,
            "accept_on_time_rate": 1.0}  # fmt: skip
    assert score(full, weights) == pytest.approx(82.5)
    some = {"closure_rate": 0.0, "resolve_on_time_rate": 0.5, "rework_rate": None,
            "accept_on_time_rate": 1.0}  # fmt: skip
    assert score(some, weights) == pytest.approx(100 * 0.25 / 0.7)
    assert score(dict.fromkeys(weights), weights) is None


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"speed": 1.0}, "unknown rate"),
        ({"closure_rate": -1.0}, "not negative"),
        ({"closure_rate": math.inf}, "not negative"),
        ({"closure_rate": 0.0}, "positive"),
    ],
)
def test_bad_weights_are_refused(weights: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_weights(weights)


# ---------------------------------------------------------------- one case's history

CAL = WorkingCalendar([(time(8), time(12)), (time(14, 30), time(17, 30))], (), (), TZ)
GARBAGE = EventType("06010", "GB", "", "06", "市容", "City", "暴露垃圾", "Garbage",
                    1, 4, 1, "work_hours", False, True, "trash")  # fmt: skip
RULES = Rules(CAL, {"06010": GARBAGE})
DAY = date(2026, 10, 13)  # a Tuesday


def t(hh: int, mm: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TZ).astimezone(UTC)


def whole_day(day: date = DAY) -> tuple[datetime, datetime]:
    return t(0, 0, day), t(0, 0, day + timedelta(days=1))


INFO = CaseInfo(1, "cell", "06010", False, t(8, 50))


def dispatched(at: datetime, unit: str = "hw", ticket: int = 7) -> list[Ev]:
    return [
        Ev("case.dispatched", at, from_status="reported"),
        Ev("ticket.dispatched", at, ticket, unit, "", {"role": "lead"}),
    ]


def counts(events: list[Ev], day: date = DAY, as_of: datetime | None = None) -> dict[str, int]:
    start, end = whole_day(day)
    out: dict[str, int] = {}
    for f in case_facts(INFO, events, start, end, RULES, as_of).facts:
        if f.counted:
            out[f"{f.unit}:{f.counted}"] = out.get(f"{f.unit}:{f.counted}", 0) + 1
    return out


def test_a_simple_case_on_time() -> None:
    events = [
        Ev("case.reported", t(8, 50), from_status=""),
        *dispatched(t(9)),
        Ev("ticket.accepted", t(9, 20), 7, "hw"),
        Ev("ticket.resolved", t(10, 30), 7, "hw"),
        Ev("case.resolved", t(10, 30)),
        Ev("case.closed", t(11), from_status="verifying"),
    ]
    start, end = whole_day()
    result = case_facts(INFO, events, start, end, RULES)
    assert result.close_due == t(16, 30)  # 4 working hours from 09:00 is 15:30, check 1 more
    steps = {f.step: f.seconds for f in result.facts if f.step}
    assert steps == {"dispatch": 600, "accept": 1200, "resolve": 5400, "verify": 1800,
                     "close": 7800}  # fmt: skip
    assert counts(events) == {
        ":cases": 1, ":reports": 1, "hw:registered": 1, "hw:dispatched": 1,
        "hw:dispatched_on_time": 1, "hw:tickets": 1, "hw:accepted": 1,
        "hw:accepted_on_time": 1, "hw:resolved": 1, "hw:resolved_on_time": 1, "hw:closed": 1,
        "hw:due": 1, "hw:closed_on_time": 1,
    }  # fmt: skip


def test_a_missed_deadline_counts_once_escalated_or_not() -> None:
    base = [Ev("case.reported", t(8, 50), from_status=""), *dispatched(t(9))]
    late = t(16)  # resolve due 15:30
    escalated = [*base, Ev("ticket.escalated", t(15, 31), 7, "hw", data={"stage": "resolve"}),
                 Ev("ticket.resolved", late, 7, "hw")]  # fmt: skip
    unescalated = [*base, Ev("ticket.resolved", late, 7, "hw")]
    for events in (escalated, unescalated):
        c = counts(events)
        assert c["hw:overdue"] == 1
        assert "hw:resolved_on_time" not in c
        assert c["hw:resolved"] == 1
    accept_stage = [*base, Ev("ticket.escalated", t(10, 1), 7, "hw", data={"stage": "accept"})]
    assert "hw:overdue" not in counts(accept_stage)


def test_rework_starts_a_new_deadline() -> None:
    events = [Ev("case.reported", t(8, 50), from_status=""), *dispatched(t(9)),
              Ev("ticket.resolved", t(10), 7, "hw"), Ev("case.resolved", t(10)),
              Ev("case.reworked", t(11), from_status="verifying"),
              Ev("ticket.reworked", t(11), 7, "hw", data={"resolve_due": t(16).isoformat()}),
              Ev("ticket.resolved", t(15, 50), 7, "hw")]  # fmt: skip
    c = counts(events)
    assert c["hw:resolved_on_time"] == 2  # 10:00 ≤ 15:30, then 15:50 ≤ 16:00
    assert c["hw:reworked"] == 1
    resolve = [f.seconds for f in case_facts(INFO, events, *whole_day(), RULES).facts
               if f.step == "resolve"]  # fmt: skip
    assert resolve == [3600, 3600 + 3600 + 20 * 60]  # 11:00–12:00 and 14:30–15:50


def test_only_facts_inside_the_range_count_but_history_before_it_is_read() -> None:
    events = [Ev("case.reported", t(8, 50), from_status=""), *dispatched(t(9)),
              Ev("ticket.accepted", t(9, 20), 7, "hw"),
              Ev("ticket.resolved", t(9, 0, DAY + timedelta(days=1)), 7, "hw")]  # fmt: skip
    nxt = counts(events, DAY + timedelta(days=1))
    assert nxt == {"hw:resolved": 1, "hw:overdue": 1}  # late: due 15:30 the day before
    assert "hw:resolved" not in counts(events)


def test_the_due_cohort_waits_for_the_close_by_time_and_skips_voided_cases() -> None:
    events = [Ev("case.reported", t(8, 50), from_status=""), *dispatched(t(9))]
    assert "hw:due" not in counts(events, as_of=t(16))  # close-by 16:30 not reached yet
    assert counts(events, as_of=t(17))["hw:due"] == 1
    voided = [*events, Ev("case.rejected", t(10), from_status="dispatched")]
    c = counts(voided)
    assert c["hw:voided"] == 1
    assert "hw:due" not in c


@pytest.mark.parametrize("data", [{"resolve_due": t(17, 30).isoformat(), "extra": 2}, {"extra": 2}],
                         ids=["due in the event", "due from the calendar"])  # fmt: skip
def test_an_extension_moves_the_deadline_and_the_close_by_time(data: dict[str, Any]) -> None:
    """Dispatched 09:00: resolve due 15:30, close-by 16:30. Extended at 10:00 by 2 working
    hours: resolve due 17:30, close-by one working hour later, 09:00 the next day."""
    events = [Ev("case.reported", t(8, 50), from_status=""), *dispatched(t(9)),
              Ev("ticket.extended", t(10), 7, "hw", data=data),
              Ev("ticket.resolved", t(17), 7, "hw"), Ev("case.resolved", t(17)),
              Ev("case.closed", t(17, 20), from_status="verifying")]  # fmt: skip
    result = case_facts(INFO, events, *whole_day(), RULES)
    nxt = DAY + timedelta(days=1)
    assert (result.close_due, result.close_due_set) == (t(9, 0, nxt), t(10))
    c = counts(events)
    assert (c["hw:extensions"], c["hw:resolved_on_time"]) == (1, 1)  # 17:00 ≤ 17:30
    assert "hw:overdue" not in c
    assert "hw:due" not in c  # it falls due the next day, and was closed before
    assert counts(events, nxt, as_of=t(10, 0, nxt)) == {"hw:due": 1, "hw:closed_on_time": 1}


def test_a_support_units_extension_leaves_the_close_by_time() -> None:
    events = [Ev("case.reported", t(8, 50), from_status=""), *dispatched(t(9)),
              Ev("ticket.dispatched", t(9), 8, "jj", "", {"role": "support"}),
              Ev("ticket.extended", t(10), 8, "jj", data={"extra": 2})]  # fmt: skip
    result = case_facts(INFO, events, *whole_day(), RULES)
    assert result.close_due == t(16, 30)
    assert counts(events)["jj:extensions"] == 1


def _unpacked(row: dict[str, Any]) -> Tally:
    t = Tally.from_columns(row)
    sums = {"t": t}
    if row["hist"] is not None:
        add_packed(sums, ["t"], [row["hist"]])
    return t


def test_a_days_city_rows_are_the_sum_of_its_district_rows() -> None:
    """Cases in two districts: the city rows (per type and unit, per type) hold what the
    district rows hold, summed over the districts, and what the facts hold."""
    from dispatch.stats.cube import BY_TYPE, CITY, CITY_TYPE
    from dispatch.stats.gather import CaseArea, Computed
    from dispatch.stats.history import CaseResult, Fact
    from dispatch.stats.rollup import day_rows

    at = datetime(2026, 10, 13, 2, tzinfo=UTC)
    where = {
        1: CaseArea("450103001001", "450103001", "450103", "450103", "06010"),
        2: CaseArea("450102001001", "450102001", "450102", "450102", "06010"),
        3: CaseArea("450102002001", "450102002", "450102", "450102", "09009"),
        4: CaseArea("450105001001", "450105001", "450105", "450105", "06010"),
    }
    facts = {
        1: [Fact(at, "", "reports"), Fact(at, "hw", "tickets"),
            Fact(at, "hw", None, "accept", 600)],
        2: [Fact(at, "", "reports"), Fact(at, "hw", None, "accept", 1800),
            Fact(at, "jj", "returned")],
        3: [Fact(at, "jj", "tickets"), Fact(at, "jj", None, "resolve", 7200)],
        4: [Fact(at, "hw", None, "accept", 0.4), Fact(at, "hw", "tickets")],
    }  # fmt: skip
    computed = Computed(where, {cid: CaseResult(f, None) for cid, f in facts.items()})
    rows = day_rows(computed, date(2026, 10, 13))

    def tallies(level: str, key: Any) -> dict[Any, Tally]:
        out: dict[Any, Tally] = {}
        for r in rows:
            if r["level"] == level:
                out.setdefault(key(r), Tally()).add(_unpacked(r))
        return out

    def expected(key: Any) -> dict[Any, Tally]:
        out: dict[Any, Tally] = {}
        for cid, fs in facts.items():
            for f in fs:
                t = out.setdefault(key(where[cid], f), Tally())
                if f.counted:
                    t.count(f.counted)
                if f.step:
                    t.steps[f.step].add_duration(f.seconds)
        return out

    city = tallies(CITY, lambda r: (r["area"], r["event_type"], r["unit_id"]))
    assert city == tallies("district", lambda r: ("", r["event_type"], r["unit_id"]))
    assert city == expected(lambda a, f: ("", a.event_type, f.unit))
    assert city[("", "06010", "hw")].steps["accept"].n == 3  # three districts' tickets
    assert city[("", "06010", "hw")].counts["tickets"] == 2
    city_type = tallies(CITY_TYPE, lambda r: (r["area"], r["event_type"], r["unit_id"]))
    assert city_type == tallies(BY_TYPE, lambda r: ("", r["event_type"], ""))
    assert city_type == expected(lambda a, f: ("", a.event_type, ""))
    assert set(city_type) == {("", "06010", ""), ("", "09009", "")}
