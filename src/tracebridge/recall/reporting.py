"""The 806 reporting clock (REQ 39) and the recall status report's figures (REQ 37).

A correction or removal to reduce a risk to health must be reported to FDA within 10
working days of its initiation (21 CFR 806.10(b)). Working days here are Monday to
Friday; public holidays can be passed in. The day of initiation does not count.

>>> from datetime import date
>>> report_due(date(2026, 11, 25))    # a Wednesday
datetime.date(2026, 12, 9)
>>> report_due(date(2026, 11, 25), holidays={date(2026, 11, 26)})
datetime.date(2026, 12, 10)
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

REPORT_806_WORKING_DAYS = 10
TRACKING_821_UNSHIPPED_DAYS = 3  # 821.25(a)(1): device not yet with a patient
TRACKING_821_PATIENT_DAYS = 10  # 821.25(a)(2)


def add_working_days(start: date, days: int, holidays: Collection[date] = ()) -> date:
    """The date ``days`` working days (Mon–Fri, not in ``holidays``) after ``start``."""
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            left -= 1
    return current


def report_due(initiated: date, holidays: Collection[date] = ()) -> date:
    """When the 806 report of a correction or removal initiated on ``initiated`` is due."""
    return add_working_days(initiated, REPORT_806_WORKING_DAYS, holidays)
