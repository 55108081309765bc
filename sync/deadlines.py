"""Deadlines of data-subject requests: one month from receipt (GDPR Art. 12(3)).

An operator may extend a deadline by up to two further months with a reason
(Art. 12(3), second sentence); the extension is counted in days.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

MAX_EXTENSION_DAYS = 62
"""Two further months, counted generously as 62 days."""


def add_months(moment: datetime, months: int = 1) -> datetime:
    """The same day and time ``months`` later, clamped to the end of a shorter month.

    31 January plus one month is 28 (or 29) February, as the Article 12(3)
    period is read in practice (Regulation 1182/71, Art. 3(2)(c)).
    """
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_at(received_at: datetime, extended_days: int = 0) -> datetime:
    """When an event received at ``received_at`` must be done."""
    return add_months(received_at) + timedelta(days=extended_days)
