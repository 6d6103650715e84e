"""The compiled kernels' building blocks agree with the numpy operations they replace."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hetserve_env import Allocation, evaluate
from hetserve_env.kernels import compiled as k
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
    code = ("import sys, hetserve_env, hetserve_env.env, hetserve_env.kernels.records, hetserve_env.observation; "
            "assert 'numba' not in sys.modules, 'numba imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_problem_arrays_name_the_problems_fields() -> None:
    """The record the kernels read by name holds each Problem field under that field's name."""
    from hetserve_env.allocation import problem_arrays

    p = random_problem(3)
    rec = problem_arrays(p)
    for name, value in rec._asdict().items():
        if name == "n_gpu_types":
            assert value == p.n_gpu_types
        else:
            np.testing.assert_array_equal(value, getattr(p, name), err_msg=name)


def test_a_positional_tuple_is_an_error_not_wrong_numbers() -> None:
    """The kernels read records by field name: a bare tuple of the same arrays does not compile."""
    import numba

    from hetserve_env.allocation import problem_arrays
    from hetserve_env.kernels.records import AllocationArrays

    p = random_problem(0)
    alloc = route(p, np.ones(p.n_templates))
    a = AllocationArrays(alloc.replicas.astype(float), alloc.replicas.astype(float), alloc.routing, alloc.unmet)
    good = k.evaluate_core(problem_arrays(p), a, False, 1e-6)
    assert good.objective == pytest.approx(evaluate(p, alloc).objective, rel=0, abs=0)
    with pytest.raises(numba.core.errors.TypingError):
        k.evaluate_core(tuple(problem_arrays(p)), a, False, 1e-6)


def test_observation_layout_offsets_are_its_slices() -> None:
    from hetserve_env.observation import ObservationLayout

    lay = ObservationLayout(n_types=3, n_templates=7, history=4)
    sl, off = lay.slices(), lay.offsets()
    assert off.size == lay.size == lay.space().shape[0] == 4 * 3 + 2 * 3 + 2 * 7 + 2 + 3 + 1
    assert [off._asdict()[name] for name in sl] == [s.start for s in sl.values()]
    assert [s.stop - s.start for s in sl.values()] == [c.size for c in lay.components]
    obs = np.arange(lay.size, dtype=np.float32)
    assert lay.split(obs)["budget_used"].tolist() == [lay.size - 1]
