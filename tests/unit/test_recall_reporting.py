"""The 806 clock: a report due 10 working days after initiation (REQ 39)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tracebridge.recall.reporting import add_working_days, report_due


def test_req39_report_due_ten_working_days_after_initiation() -> None:
    """REQ-39: initiated Friday 2026-11-27 → due Friday 2026-12-11 (two weekends skipped)."""
    assert report_due(date(2026, 11, 27)) == date(2026, 12, 11)
    assert report_due(date(2026, 11, 28)) == date(2026, 12, 11)  # Saturday: counts from Monday


def test_req39_holidays_push_the_due_date() -> None:
    holidays = {date(2026, 12, 1), date(2026, 12, 2)}
    assert report_due(date(2026, 11, 27), holidays) == date(2026, 12, 15)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       st.integers(min_value=0, max_value=60))
def test_working_days_are_counted_exactly(start: date, days: int) -> None:
    due = add_working_days(start, days)
    between = [start + timedelta(days=n) for n in range(1, (due - start).days + 1)]
    assert sum(d.weekday() < 5 for d in between) == days
    assert days == 0 or due.weekday() < 5
