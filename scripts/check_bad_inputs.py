"""Try every bad input of issue 11 and say how each is handled: clear, unhelpful or silent.

    python scripts/check_bad_inputs.py                      # print the table
    python scripts/check_bad_inputs.py --out results/bad_inputs.md

Outcomes: **clear** = an exception (or, for a CLI case, exit status 2 with a one-line message) whose message
names the field; **unhelpful** = another exception, a traceback or another exit status; **silent** = accepted.
A few inputs are valid and must be handled correctly rather than refused (a huge budget is capped by the
inventory): those are **handled** when the check of the result passes. Library cases run in this process (a
60 s alarm each); CLI cases run ``python -m hetserve_env.cli`` as subprocesses with a timeout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from baselines.instances import generate  # noqa: E402
from hetserve_env import Allocation, evaluate, load_scenario  # noqa: E402
from hetserve_env.env import HetServeEnv  # noqa: E402
from hetserve_env.problem import Problem  # noqa: E402
from hetserve_env.traces.azure import load_azure_trace  # noqa: E402

TMP = Path(tempfile.mkdtemp(prefix="hetserve-bad-inputs-"))
CASE_TIMEOUT_S = 60
CLI_TIMEOUT_S = 240


class Accepted(Exception):
    """Raised by a 'handled' case's check when the result is right (the message says what was checked)."""


# ------------------------------------------------------------------------------------------ inputs
def _problem() -> Problem:
    return generate(2, 2, 2, seed=0)


def _routed() -> tuple[Problem, Allocation]:
    from hetserve_env.routing import route

    p = _problem()
    return p, route(p, np.ones(p.n_templates), "greedy")


def _with_nan(field: str) -> Callable[[], Any]:
    def run() -> Any:
        p, a = _routed()
        arrs = {"replicas": a.replicas.astype(float), "routing": a.routing.copy(), "unmet": a.unmet.copy()}
        arrs[field].flat[0] = np.nan
        return evaluate(p, Allocation(**arrs))
    return run


def _problem_edit(**change: Any) -> Callable[[], Any]:
    def run() -> Any:
        data = _problem().to_dict()
        for k, v in change.items():
            data[k] = v(data[k]) if callable(v) else v
        return Problem(**{k: (np.asarray(v) if isinstance(v, list) and not k.endswith("names") and k != "template_labels"
                                 else v) for k, v in data.items()})
    return run


def _full(value: float) -> Callable[[list], list]:
    return lambda old: np.full(np.shape(old), value).tolist()


def _first(value: Any) -> Callable[[list], list]:
    def f(old: list) -> list:
        arr = np.array(old, dtype=object)
        arr.flat[0] = value
        return arr.tolist()
    return f


def _scenario(**change: Any) -> Callable[[], Any]:
    def run() -> Any:
        data = json.loads(json.dumps(load_scenario("small").raw))
        for path, v in change.items():
            *head, last = path.split("__")
            d = data
            for k in head:
                d = d[int(k)] if isinstance(d, list) else d.setdefault(k, {})
            d[int(last) if isinstance(d, list) else last] = v
        sc = load_scenario(data)
        return sc.problem()  # builds the demand (splits, n_days) too
    return run


def _yaml_file(name: str, text: str) -> Callable[[], Any]:
    def run() -> Any:
        p = TMP / name
        p.write_text(text)
        return load_scenario(p)
    return run


def _dup_key_yaml() -> str:
    text = (ROOT / "hetserve_env" / "scenarios" / "small.yaml").read_text()
    return text + "\nbudget_per_hour: 5000\n"


def _csv(name: str, rows: str) -> Callable[[], Any]:
    def run() -> Any:
        p = TMP / name
        p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + rows)
        return load_azure_trace(p)
    return run


def _alloc_json(name: str, text: str) -> Callable[[], Any]:
    def run() -> Any:
        p = TMP / name
        p.write_text(text)
        return Allocation.from_json(p)
    return run


def _problem_json_list() -> Any:
    p = TMP / "problem_list.json"
    p.write_text(json.dumps([_problem().to_dict()]))
    return Problem.from_json(p)


def _problem_json_nan_budget() -> Any:
    d = {"kind": "hetserve.Problem", **_problem().to_dict(), "budget": float("nan")}
    return Problem.from_json(json.dumps(d))


def _env(**kw: Any) -> Callable[[], Any]:
    return lambda: HetServeEnv("small", **kw)


def _one_day_env() -> Any:
    data = json.loads(json.dumps(load_scenario("small").raw))
    data["n_days"] = 1
    return HetServeEnv(data)


def _huge_budget() -> Any:
    import baselines

    data = json.loads(json.dumps(load_scenario("small").raw))
    data["budget_per_hour"] = 1e20
    p = load_scenario(data).problem()
    bound = p.max_replicas()
    by_inv = p.inventory[p.template_gpu] // p.gpus
    assert (bound == by_inv).all(), "max_replicas is not the inventory bound"
    sol = baselines.solve(p, "milp", time_limit=60)
    assert sol.feasible and math.isfinite(sol.objective), sol.status
    raise Accepted(f"max_replicas() = inventory bound (max {int(bound.max())}); MILP {sol.status}, "
                   f"{sol.objective:.4f} $/h")


def _solve(method: str, **options: Any) -> Callable[[], Any]:
    def run() -> Any:
        import baselines

        return baselines.solve(_problem(), method, **options)
    return run


# field each message must name, and the call; expect="accept": valid input that must be handled correctly
CASES: list[tuple[str, str, Callable[[], Any]]] = [
    ("evaluate: NaN in replicas", "replicas", _with_nan("replicas")),
    ("evaluate: NaN in routing", "routing", _with_nan("routing")),
    ("evaluate: NaN in unmet", "unmet", _with_nan("unmet")),
    ("Allocation.from_json: NaN in routing", "routing",
     _alloc_json("nan.json", '{"replicas": [1, 0], "routing": [[NaN, 0]], "unmet": [0]}')),
    ("Allocation.from_json: truncated file", "truncated.json",
     _alloc_json("truncated.json", '{"kind": "hetserve.Allocation", "replicas": [1, 0], "rout')),
    ("Problem: budget=NaN", "budget", _problem_edit(budget=float("nan"))),
    ("Problem JSON: budget NaN", "budget", _problem_json_nan_budget),
    ("Problem: storage_cost=-1", "storage_cost", _problem_edit(storage_cost=-1.0)),
    ("Problem: window_s=NaN", "window_s", _problem_edit(window_s=float("nan"))),
    ("Problem: capacity=inf", "capacity", _problem_edit(capacity=_first(float("inf")))),
    ("Problem: rate=inf", "rate", _problem_edit(rate=_first(float("inf")))),
    ("Problem: duplicate type names", "type_names", _problem_edit(type_names=lambda old: [old[0]] * len(old))),
    ("Problem: delay_slo=0", "delay_slo", _problem_edit(delay_slo=_full(0.0))),
    ("Problem: error_slo=5", "error_slo", _problem_edit(error_slo=_full(5.0))),
    ("Problem: unmet_penalty=1e308", "unmet_penalty", _problem_edit(unmet_penalty=_full(1e308))),
    ("Problem: gpus=2.5 (truncated before)", "gpus", _problem_edit(gpus=_first(2.5))),
    ("Problem JSON: top level is a list", "top level", _problem_json_list),
    ("scenario: seed 1.5", "seed", _scenario(seed=1.5)),
    ("scenario: seed abc", "seed", _scenario(seed="abc")),
    ("scenario: env.max_replicas 2.5", "max_replicas", _scenario(env__max_replicas=2.5)),
    ("scenario: env.history 2.5", "history", _scenario(env__history=2.5)),
    ("scenario: templates.pp [1.5]", "pp", _scenario(templates__pp=[1.5])),
    ("scenario: inventory 2.5", "inventory", _scenario(inventory__L4=2.5)),
    ("scenario: n_days 1.7", "n_days", _scenario(n_days=1.7)),
    ("scenario: unmet_penalty 1e308", "unmet_penalty", _scenario(query_types__0__unmet_penalty=1e308)),
    ("scenario: budget 1e20 (MILP bounds)", "accept", _huge_budget),
    ("scenario: overlapping splits", "splits",
     _scenario(splits={"train": [0, 1, 2], "validation": [2], "test": [3]})),
    ("scenario: splits {validation: 2, test: 2}", "splits", _scenario(splits={"validation": 2, "test": 2})),
    ("scenario: split day out of range", "splits", _scenario(splits={"train": [0], "test": [99]})),
    ("scenario: empty split", "splits", _scenario(splits={"train": [0, 1], "validation": [], "test": [2]})),
    ("env: one-day trace", "splits", _one_day_env),
    ("YAML: duplicate key", "budget_per_hour", _yaml_file("dup.yaml", _dup_key_yaml())),
    ("YAML: empty file", "empty.yaml", _yaml_file("empty.yaml", "")),
    ("YAML: top level is a list", "list.yaml", _yaml_file("list.yaml", "- name: x\n")),
    ("env: episode_days=1.7", "episode_days", _env(episode_days=1.7)),
    ("env: max_replicas=True", "max_replicas", _env(max_replicas=True)),
    ("env: noise=400", "noise", _env(noise=400.0)),
    ("env: noise=nan", "noise", _env(noise=float("nan"))),
    ("env: noise='abc'", "noise", _env(noise="abc")),
    ("Azure CSV: token count 2^63", "ContextTokens", _csv("tokens.csv", "0,10,20\n1,9223372036854775808,5\n")),
    ("Azure CSV: epoch-ns timestamps", "TIMESTAMP",
     _csv("ns.csv", "1715299200000000000,10,20\n1715299260000000000,10,5\n")),
    ("MILP: time_limit=-1", "time_limit", _solve("milp", time_limit=-1)),
    ("MILP: time_limit=0", "time_limit", _solve("milp", time_limit=0)),
    ("MILP: time_limit=nan", "time_limit", _solve("milp", time_limit=float("nan"))),
    ("MILP: gap=-1", "gap", _solve("milp", gap=-1.0)),
    ("MILP: gap=nan", "gap", _solve("milp", gap=float("nan"))),
    ("AGH: time_budget_s=-1", "time_budget_s", _solve("agh", time_budget_s=-1)),
]

CLI_CASES: list[tuple[str, str, list[str]]] = [
    ("CLI: train --timesteps 0", "timesteps", ["train", "--env", "hetserve_env/HetServeSmall-v1", "--timesteps", "0"]),
    ("CLI: train --timesteps -5", "timesteps", ["train", "--env", "hetserve_env/HetServeSmall-v1", "--timesteps", "-5"]),
    ("CLI: train --env-kwargs noise=abc", "noise",
     ["train", "--env", "hetserve_env/HetServeSmall-v1", "--timesteps", "64", "--env-kwargs", "noise=abc"]),
    ("CLI: solve small --max-rows -1", "max-rows", ["solve", "small", "--method", "gh", "--max-rows", "-1"]),
]


# ------------------------------------------------------------------------------------------ running
def _alarm(_signum: int, _frame: Any) -> None:
    raise TimeoutError(f"no answer within {CASE_TIMEOUT_S} s")


def _one_line(text: str) -> str:
    text = " ".join(str(text).replace(str(TMP), "<tmp>").split())
    return text if len(text) <= 220 else text[:217] + "..."


def run_case(name: str, field: str, fn: Callable[[], Any]) -> tuple[str, str]:
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_TIMEOUT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn()
    except Accepted as ok:
        return "handled", str(ok)
    except TimeoutError as exc:
        return "unhelpful", f"timeout: {exc}"
    except Exception as exc:  # noqa: BLE001  (classifying every failure is the point)
        msg = f"{type(exc).__name__}: {exc}"
        if field == "accept":
            return "unhelpful", _one_line(msg)
        clear = isinstance(exc, ValueError) and field.lower() in str(exc).lower()
        return ("clear" if clear else "unhelpful"), _one_line(msg if clear else msg + " | " +
                                                              traceback.format_exc(limit=1).splitlines()[-2])
    finally:
        signal.alarm(0)
    return "silent", _one_line(f"accepted: {type(result).__name__}")


def run_cli(name: str, field: str, args: list[str]) -> tuple[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "hetserve_env.cli", *args]
    if args[0] == "train":
        cmd += ["--log-dir", str(TMP / "train"), "--n-envs", "1", "--no-progress"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=TMP, env=env)
    except subprocess.TimeoutExpired:
        return "unhelpful", f"no exit within {CLI_TIMEOUT_S} s"
    err = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    if proc.returncode == 0:
        return "silent", "exit 0"
    last = err[-1] if err else ""
    clear = proc.returncode == 2 and len(err) <= 2 and field in last and "Traceback" not in proc.stderr
    return ("clear" if clear else "unhelpful"), _one_line(f"exit {proc.returncode}: {last}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the table as Markdown to this file")
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI cases (subprocesses)")
    args = ap.parse_args()
    rows = [(n, *run_case(n, f, fn)) for n, f, fn in CASES]
    if not args.no_cli:
        rows += [(n, *run_cli(n, f, a)) for n, f, a in CLI_CASES]
    counts = {k: sum(r[1] == k for r in rows) for k in ("clear", "handled", "unhelpful", "silent")}
    lines = ["| case | outcome | message |", "|---|---|---|"]
    lines += [f"| {n} | {o} | {m.replace('|', '/')} |" for n, o, m in rows]
    summary = f"{len(rows)} cases: " + ", ".join(f"{v} {k}" for k, v in counts.items())
    print("\n".join(lines))
    print(summary)
    if args.out:
        head = ("# Bad inputs: how each is handled\n\nWritten by `python scripts/check_bad_inputs.py --out "
                f"{args.out}` (outcomes are defined in the script's docstring).\n\n")
        Path(args.out).write_text(head + "\n".join(lines) + f"\n\n{summary}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
