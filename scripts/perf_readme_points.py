"""The README's four reference figures (two templates x single-stream decode and max output tok/s), model vs. measured.

    python scripts/perf_readme_points.py              # performance models v1 and v2
    python scripts/perf_readme_points.py --model v2   # one of them

Kept from the first version of scripts/perf_reference.py so that the four figures can be compared before and
after a change of the performance model; the sourced validation report is scripts/perf_reference.py. The model's
figures, under the default (vLLM) engine profile at ShareGPT-like 230 in / 200 out (ESTIMATE): single-stream
decode = 1 / zero-load inter-token latency (``PerfTable.itl_s``; model v0, which had no ``itl_s``, printed
1 / a, the step time without the sequence's own KV read) and max output tok/s = capacity at an unbounded SLO x 200
output tokens.
"""

from __future__ import annotations

import argparse

import numpy as np

from hetserve_env import load_catalog
from hetserve_env.perf import VERSIONS, PerfConstants, evaluate_templates
from hetserve_env.templates import build_templates

# (model, gpu, tp, measured single-stream tok/s, source, measured max output tok/s, source)
CASES = [
    ("Llama-3.1-8B", "H100-SXM", 1,
     128.0, "vLLM CI build 9555: latency_llama8B_tp1, 32 in/128 out, batch 8: 997.5 ms (7.8 ms/step)",
     12553.0, "aimultiple.com/inference-engines: vLLM offline, 1,000 ShareGPT prompts, BF16 H100"),
    ("Llama-3.1-70B", "H100-SXM", 4,
     51.6, "vLLM CI build 9555: serving_llama70B_tp4_sharegpt_qps_1, mean ITL 19.39 ms",
     3700.6, "sglang benchmark_vllm_060 README: vLLM 0.6.0, 5,000 ShareGPT prompts, rate inf, 4xH100 BF16"),
]
SHAREGPT_IN, SHAREGPT_OUT = 230.0, 200.0  # typical ShareGPT means after vLLM's benchmark filtering (ESTIMATE)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=(*VERSIONS, "both"), default="both", help="performance model version(s)")
    args = ap.parse_args(argv)
    cat = load_catalog()
    for version in VERSIONS if args.model == "both" else (args.model,):
        c = PerfConstants.from_mapping({"version": version})
        print(f"performance model {version}")
        print(f"{'template':38s} {'model tok/s':>11s} {'measured':>9s} {'ratio':>6s}   {'model max out tok/s':>19s} {'measured':>9s} {'ratio':>6s}")
        for model, gpu, tp, single, src1, peak, src2 in CASES:
            t = build_templates(cat, [model], [(gpu, "fp16")], tp=[tp], constants=c)
            perf = evaluate_templates(t.hardware, np.array([SHAREGPT_IN]), np.array([SHAREGPT_OUT]), np.array([1e9]), c)
            tok_s = 1.0 / float(perf.itl_s[0, 0])
            max_out = float(perf.capacity_rps[0, 0]) * SHAREGPT_OUT
            print(f"{t.label(0):38s} {tok_s:11.1f} {single:9.1f} {tok_s / single:6.2f}   {max_out:19.0f} {peak:9.0f} {max_out / peak:6.2f}")
            print(f"    single stream: {src1}\n    max throughput: {src2}")

if __name__ == "__main__":
    main()
