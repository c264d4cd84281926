"""How long to wait before the next try: the one backoff formula of every retry loop."""

from __future__ import annotations

import random

_MAX_DOUBLINGS = 30  # past this the cap has long applied; keeps 2**n small


def full_jitter(failures: int, *, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: a uniform draw from
    ``[0, min(cap, base * 2**failures)]`` ("full jitter"). Spreading the retries of many clients
    over the whole interval keeps them from coming back in step after a shared outage."""
    return random.uniform(0, min(cap, base * 2 ** min(failures, _MAX_DOUBLINGS)))
