"""The environment, the greedy router and ``evaluate`` reproduce the golden numbers recorded before the
compiled kernels (tests/golden.py describes the cases; rtol 1e-9). The shipped PPO model and the published
figures depend on these numbers: a change here must be deliberate (re-record with ``python -m tests.golden --write``).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests import golden

RTOL, ATOL = 1e-9, 1e-12


@pytest.fixture(scope="module")
def recorded() -> dict[str, np.ndarray]:
    return golden.load()


def compare(got: dict[str, np.ndarray], recorded: dict[str, np.ndarray]) -> list[str]:
    bad = []
    for k, v in got.items():
        ref = recorded.get(k)
        if ref is None:
            bad.append(f"{k}: not in the golden file")
            continue
        v = np.asarray(v)
        if v.dtype.kind in "US" or ref.dtype.kind in "US":
            if v.shape != ref.shape or not np.array_equal(v, ref):
                bad.append(f"{k}: {v!r} != {ref!r}")
        elif v.shape != ref.shape:
            bad.append(f"{k}: shape {v.shape} != {ref.shape}")
        elif not np.allclose(v.astype(float), ref.astype(float), rtol=RTOL, atol=ATOL, equal_nan=True):
            diff = np.abs(v.astype(float) - ref.astype(float))
            bad.append(f"{k}: max abs diff {np.nanmax(diff):.3g}")
    return bad


@pytest.mark.parametrize("part", ["env", "route_eval"])
def test_golden(part: str, recorded: dict[str, np.ndarray]) -> None:
    got: dict[str, np.ndarray] = {}
    (golden.env_cases if part == "env" else golden.route_eval_cases)(got)
    # the NaN edge cases are recorded but now raise (golden.edge_cases checks the error): not compared
    expected = {k for k in recorded if k.startswith("env/") == (part == "env")} - golden.nan_edge_keys()
    assert set(got) == expected, sorted(set(got) ^ expected)[:10]
    bad = compare(got, recorded)
    assert not bad, f"{len(bad)} of {len(got)} golden arrays differ:\n" + "\n".join(bad[:30])


def test_golden_comparison_can_fail(recorded: dict[str, np.ndarray]) -> None:
    """The comparison catches a perturbation far below any published precision."""
    key = next(k for k in recorded if k.endswith("/reward"))
    assert compare({key: recorded[key] * (1 + 1e-8)}, recorded)
    key = next(k for k in recorded if k.endswith("/violations") and recorded[k].size and recorded[k].ravel()[0])
    assert compare({key: np.array([s + "x" for s in recorded[key].tolist()])}, recorded)
