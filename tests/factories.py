"""Small hand-made Problems for tests that must not depend on the bundled catalog or traces."""

from __future__ import annotations

import numpy as np

from hetserve_env.problem import Problem


def random_problem(seed: int = 0, n_types: int = 3, n_templates: int = 6, n_gpu_types: int = 2, budget: float = 1e4) -> Problem:
    rng = np.random.default_rng(seed)
    I, D, G = n_types, n_templates, n_gpu_types
    gpus = rng.choice([1, 2, 4], D)
    cap = rng.uniform(0.5, 20.0, (I, D)) * (rng.random((I, D)) > 0.2)
    cap[:, 0] = np.maximum(cap[:, 0], 1.0)  # every type servable somewhere
    lat = rng.uniform(0.2, 5.0, (I, D))
    return Problem(
        type_names=[f"t{i}" for i in range(I)],
        template_labels=[f"d{d}" for d in range(D)],
        gpu_names=[f"g{g}" for g in range(G)],
        artifact_names=[f"a{a}" for a in range(max(1, D // 2))],
        rate=rng.uniform(0.5, 10.0, I),
        input_tokens=rng.uniform(100, 2000, I),
        output_tokens=rng.uniform(10, 500, I),
        delay_slo=np.full(I, 10.0),
        error_slo=rng.uniform(0.1, 0.3, I),
        max_unmet=np.full(I, 0.05),
        unmet_penalty=np.full(I, 0.02),
        delay_penalty=np.full(I, 2e-5),
        error_penalty=np.full(I, 0.02),
        template_gpu=rng.integers(0, G, D),
        template_artifact=np.arange(D) % max(1, D // 2),
        gpus=gpus,
        cost=gpus * rng.uniform(0.5, 12.0, D),
        capacity=cap,
        latency=lat,
        error=rng.uniform(0.05, 0.35, (I, D)),
        load_slope=rng.uniform(0.0, 0.9, (I, D)),
        inventory=np.full(G, 64),
        artifact_gb=rng.uniform(2, 140, max(1, D // 2)),
        budget=budget,
        storage_gb=1000.0,
        storage_cost=1e-4,
        window_s=600.0,
        name=f"random-{seed}",
    )
