"""The maintenance window: local-time bounds that may cross midnight."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as dt_time

Window = tuple[dt_time, dt_time]


def in_window(window: Window, moment: datetime) -> bool:
    """Whether local `moment` falls in the window."""
    start, end = window
    now = moment.time()
    return start <= now < end if start < end else now >= start or now < end


def window_end(window: Window, moment: datetime) -> datetime:
    """When the window that contains `moment` closes."""
    end = moment.replace(hour=window[1].hour, minute=window[1].minute, second=0, microsecond=0)
    return end if end > moment else end + timedelta(days=1)
