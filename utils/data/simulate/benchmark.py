"""How fast the simulator is: ``python -m utils.data.simulate --benchmark``."""

from __future__ import annotations

import time

import numpy as np

from utils.data.simulate.simulator import simulate_shop


def bench_simulator(n_events_target: int = 1_000_000, n_days: int = 90, seed: int = 0) -> dict:
    """Time one simulation sized to about ``n_events_target`` events; report speed and memory."""
    import resource

    import psutil

    pilot = simulate_shop(n_users=3000, n_days=n_days, seed=seed)
    n_users = int(np.ceil(n_events_target * 3000 / len(pilot.events)))
    del pilot
    began = time.perf_counter()
    shop = simulate_shop(n_users=n_users, n_days=n_days, seed=seed)
    seconds = time.perf_counter() - began
    n = len(shop.events)
    return {
        "n_users": n_users, "n_days": n_days, "events": n, "seconds": round(seconds, 2),
        "events_per_second": round(n / seconds),
        "events_memory_mb": round(shop.events.memory_usage(deep=True).sum() / 2**20, 1),
        "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
