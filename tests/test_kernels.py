"""The compiled kernels' building blocks agree with the numpy operations they replace."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hetserve_env import Allocation, evaluate
from hetserve_env import _kernels as k
from hetserve_env.perf import latency_at_utilisation
from hetserve_env.routing import route
from tests.factories import random_problem


def test_npsum_is_numpys_sum_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for n in [*range(0, 300), 1000, 4099]:
        a = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)
        assert k.npsum(a) == a.sum()
    m = rng.standard_normal((4, 285))
    assert [k.npsum(m[i]) for i in range(4)] == m.sum(axis=1).tolist()


def test_argsort_stable_is_numpys_stable_argsort() -> None:
    rng = np.random.default_rng(1)
    for n in range(0, 70):
        for _ in range(20):
            v = rng.integers(0, 6, n).astype(float)
            if n and rng.random() < 0.3:
                v[rng.integers(0, n)] = np.nan
            np.testing.assert_array_equal(k.argsort_stable(v), np.argsort(v, kind="stable"))


@pytest.mark.parametrize("seed", range(4))
def test_load_latency_is_the_perf_models(seed: int) -> None:
    """evaluate's load-dependent latency is perf.latency_at_utilisation capped at the window length."""
    p = random_problem(seed)
    rng = np.random.default_rng(seed)
    avail = rng.integers(0, 3, p.n_templates).astype(float)
    alloc = route(p, avail)
    alloc = Allocation(alloc.replicas, alloc.routing * 1.5, alloc.unmet)  # some templates past saturation
    ev = evaluate(p, alloc, latency="load", available=avail * 0.7)
    with np.errstate(invalid="ignore"):
        ref = np.minimum(latency_at_utilisation(p.latency, p.load_slope, ev.utilisation[None, :]), p.window_s)
    np.testing.assert_array_equal(ev.latency, ref)


def test_import_does_not_load_numba() -> None:
    """numba is imported on the first evaluate/route/step, not by ``import hetserve_env``."""
    code = "import sys, hetserve_env; assert 'numba' not in sys.modules, 'numba imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
