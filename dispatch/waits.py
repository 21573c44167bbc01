"""Bounded waits that a cancellation always gets through.

Why not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives in the
same turn of the loop as the awaited thing finishes, and returns its result instead
(CPython gh-86296, fixed in 3.12). A loop woken as it was cancelled then runs on, and
whoever awaits its end waits forever: a test run hung at an app's shutdown that way, its
feed hub woken by a commit as it was stopped. ``asyncio.timeout`` has no such gap.
"""

from __future__ import annotations

import asyncio
import contextlib


async def event_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` have passed; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()
