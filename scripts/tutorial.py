"""hetserve tutorial: one static instance solved three ways, one day in the environment, a small learned agent.

    python scripts/tutorial.py            # full settings: a whole test day, 100,000 training steps (~7 min)
    python scripts/tutorial.py --small    # CI settings: 12 windows, ~2,000 training steps (~20 s)
    python scripts/tutorial.py --write-notebook   # regenerate docs/tutorial.ipynb from this file

The cells below (from the first ``# %%`` line on) are exactly the cells of ``docs/tutorial.ipynb``:
``# %% [markdown]`` cells are text, ``# %%`` cells are code. Edit this file, then regenerate the notebook;
``tests/test_teaching.py`` checks that the two agree and runs both. This header is tooling and is not part of
the notebook. In the notebook, set the environment variable ``HETSERVE_TUTORIAL_SMALL=1`` before starting
Jupyter for the small settings (or edit the settings cell).
"""

import os
import sys
from pathlib import Path


def split_cells(text: str) -> list[tuple[str, str]]:
    """The (kind, source) cells of a percent-format script: text after the header, split at '# %%' lines."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        out.append((kind, "\n".join(lines).strip("\n")))
    return out


def write_notebook(path: Path | None = None) -> Path:
    """Write docs/tutorial.ipynb (no outputs) from this file's cells."""
    import nbformat

    here = Path(__file__).resolve()
    path = path or here.parents[1] / "docs" / "tutorial.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata.update({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                        "language_info": {"name": "python"}})
    for kind, src in split_cells(here.read_text()):
        nb.cells.append(nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src))
    for k, cell in enumerate(nb.cells):  # stable ids: the file does not change when regenerated
        cell["id"] = f"cell-{k:02d}"
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n")
    return path


if __name__ == "__main__":
    if "--write-notebook" in sys.argv:
        print(f"wrote {write_notebook()}")
        raise SystemExit(0)
    if "--small" in sys.argv:
        os.environ["HETSERVE_TUTORIAL_SMALL"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are saved to files when run as a script

# %% [markdown]
# # hetserve tutorial: provisioning a heterogeneous GPU fleet for LLM inference
#
# You run an LLM service with two kinds of requests, **chat** and **code**. Each has a request rate, a mean
# prompt and answer length, a latency target (delay SLO) and an accuracy target (error SLO). You can rent GPUs
# of three types (L4, L40S, H100) and run one of three open models (Llama-3.1-8B, Qwen2.5-7B, Qwen2.5-32B) on
# them, at 16- or 8-bit precision, split over 1, 2 or 4 GPUs (tensor parallelism, TP). Which fleet serves the
# demand within its targets for the fewest dollars per hour?
#
# 1. **One static instance, solved three ways**: the greedy heuristic GH, the adaptive greedy heuristic AGH and
#    the exact MILP; the decision log explains each choice.
# 2. **One day in the environment**: the same problem as a Markov decision process, window after window, with
#    real demand, cold starts and load-dependent latency.
# 3. **A small learned agent**: PPO on `HetServeSmall-v0`, compared with the reference policies.
#
# Background: `docs/concepts.md` (the ideas), `docs/model.md` (every formula and source). Exercises:
# `docs/exercises.md`.
#
# **Running it.** The full settings simulate a whole test day and train for 100,000 steps (about 7 minutes on
# one CPU core, most of it training). Start Jupyter with the environment variable `HETSERVE_TUTORIAL_SMALL=1`
# (or run `python scripts/tutorial.py --small`) for the small settings used in CI: 12 windows and about 2,000
# training steps, 20 seconds. The same cells are in `scripts/tutorial.py`.

# %%
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import baselines
import hetserve_env
from hetserve_env import evaluate

SMALL = os.environ.get("HETSERVE_TUTORIAL_SMALL", "0") == "1"  # the CI settings
WINDOWS = 12 if SMALL else 144  # windows of the test day to simulate (144 x 10 min = one day)
TIMESTEPS = 2_000 if SMALL else 100_000  # PPO training steps
OUT = Path(os.environ.get("HETSERVE_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="hetserve_tutorial_"))
OUT.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
print(f"settings: {'small' if SMALL else 'full'}; {WINDOWS} windows; {TIMESTEPS:,} training steps; output in {OUT}")

# %% [markdown]
# ## Part 1 — one static instance
#
# A **scenario** (`hetserve_env/scenarios/small.yaml`) names the query types, models, GPU types, budget and
# demand source. `Scenario.problem()` compiles the *static* problem: every type at its **peak** rate over the
# 14 days of demand, at the mean token counts. The query types:

# %%
sc = hetserve_env.load_scenario("small")
problem = sc.problem()
types = pd.DataFrame({
    "rate (req/s)": problem.rate, "input tokens": problem.input_tokens, "output tokens": problem.output_tokens,
    "delay SLO (s)": problem.delay_slo, "error SLO": problem.error_slo, "max unmet": problem.max_unmet,
}, index=list(problem.type_names)).round(3)
print(f"{problem.n_types} query types, {problem.n_templates} templates, budget ${problem.budget:g}/h")
print(types)

# %% [markdown]
# A **template** is one replica of a model on n GPUs of one type at one precision (`model@GPU/precision TPn PPm`).
# The performance model (`hetserve_env/perf.py`) gives, for every (type, template) pair, the zero-load latency
# E0 (prefill + one weight read per output token), the **capacity** μ (the most requests per second one
# replica sustains within the delay SLO, its KV-cache memory and its prefill time) and the expected error
# (benchmark error × precision multiplier). The cheapest templates for chat, by rental $ per request at full
# load:

# %%
i_chat = problem.type_names.index("chat")
tpl = pd.DataFrame({
    "GPUs": problem.gpus, "$/h": problem.cost,
    "mu chat (req/s)": problem.capacity[i_chat], "E0 chat (s)": problem.latency[i_chat],
    "error chat": problem.error[i_chat],
    "$ per 1k chat req": 1000 * problem.cost / (3600 * np.maximum(problem.capacity[i_chat], 1e-12)),
}, index=list(problem.template_labels))
tpl["within error SLO"] = tpl["error chat"] <= problem.error_slo[i_chat]
print(tpl[tpl["mu chat (req/s)"] > 0].sort_values("$ per 1k chat req").head(8).round(3))

# %% [markdown]
# **Latency under load.** A replica at utilisation u (the share of its capacity in use) serves a type with
# latency E0 / (1 − u·s), where s is the type's load slope (queueing on the decode batch, from Little's law).
# For one template:

# %%
from hetserve_env.perf import latency_at_utilisation

d = problem.template_labels.index("Qwen2.5-32B@L40S/fp16 TP2 PP1")
u = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
lat = latency_at_utilisation(problem.latency[i_chat, d], problem.load_slope[i_chat, d], u)
print(f"{problem.template_labels[d]}: capacity {problem.capacity[i_chat, d]:.2f} req/s for chat, "
      f"delay SLO {problem.delay_slo[i_chat]:g} s")
print(pd.DataFrame({"utilisation": u, "load (req/s)": u * problem.capacity[i_chat, d], "latency (s)": lat}).round(2))

# %% [markdown]
# ### Solve it three ways
#
# * **GH** — one greedy pass: M1 keeps, per (type, model, GPU, precision), the cheapest TP/PP that meets the delay
#   SLO; a coverage phase reserves one feasible path per type; then each type, largest load first, takes the
#   option with the lowest **cost per effective coverage** (M2), possibly a **TP upgrade** (M3).
# * **AGH** — GH from several orderings, then relocate local search and GPU consolidation.
# * **MILP** — the exact model, solved with HiGHS: a proven optimum.
#
# Every allocation is checked by the same `evaluate`, which prices it in $/h.

# %%
solutions = {}
for method, options in [("gh", {}), ("agh", {}), ("milp", {"solver": "highs", "time_limit": 60})]:
    solutions[method] = baselines.solve(problem, method, **options)


def fleet_text(problem, allocation):
    return ", ".join(f"{int(r)} x {problem.template_labels[d]}" for d, r in enumerate(allocation.replicas) if r > 0)


summary = pd.DataFrame([{
    "method": m.upper(), "status": s.status, "$/h": round(s.objective, 3), "runtime (s)": round(s.runtime_s, 3),
    "GPUs": int((s.allocation.replicas * problem.gpus).sum()), "fleet": fleet_text(problem, s.allocation),
} for m, s in solutions.items()]).set_index("method")
print(summary)

# %%
ev = evaluate(problem, solutions["agh"].allocation)
print("AGH allocation feasible:", ev.feasible)
print({k: round(v, 4) for k, v in ev.breakdown().items()})

# %% [markdown]
# ### Why that fleet? The decision log
#
# `explain=True` (or `hetserve solve small --method gh --explain`) logs every decision. Each line starts with
# the mechanism that made it: `[M1]` filtering (and by which constraint: memory, delay, error, budget,
# inventory), `[coverage]`, `[M2]` greedy steps with their cost per effective req/s and the runners-up,
# `[M3]` TP upgrades, and for AGH `[local-search]` and `[consolidation]` moves with what each saved.

# %%
gh = baselines.solve(problem, "gh", explain=True)
print("\n".join(gh.log))

# %%
agh = baselines.solve(problem, "agh", explain=True)
for line in agh.log:
    if line.startswith(("[local-search]", "[consolidation]", "[result]")):
        print(line)

# %% [markdown]
# **Ablation.** Switch a mechanism off and the log shows what changes. On this synthetic instance GH without
# M3 (no TP upgrades) runs out of budget:

# %%
from baselines.instances import generate

inst = generate(2, 2, 2, seed=5)
with_m3 = baselines.solve(inst, "gh", explain=True)
without_m3 = baselines.solve(inst, "gh", m3=False, explain=True)
print("with M3:   ", with_m3.status, round(with_m3.objective, 3))
print("\n".join("    " + line for line in with_m3.log if line.startswith("[M3]")))
print("without M3:", without_m3.status)
print("    " + without_m3.reason)

# %% [markdown]
# ## Part 2 — one day in the environment
#
# The environment `hetserve_env/HetServeSmall-v0` is the same problem as an MDP. Each **step** is a 10-minute
# window; the **action** is the target number of replicas per template; the **transition** bills new replicas
# at once but lets them serve only after a cold start (boot + weight loading), draws the window's real demand
# (ServeGen shapes, Azure token mixes) and routes it onto the serving replicas, with load-dependent latency;
# the **reward** is −(rental + cold starts + unmet, delay and error penalties) / scale; an **episode** is a day.
# The observation holds recent demand, the fleet, the time of day and the last SLO attainment.

# %%
import gymnasium as gym

env = gym.make("hetserve_env/HetServeSmall-v0", split="test")
base = env.unwrapped
day = base.split_days[0]
print("observation:", env.observation_space.shape, " action:", env.action_space.shape,
      f"(0..{base.max_replicas} replicas for each of {len(base.template_labels)} templates)")
print("test days:", list(base.split_days), "- windows per day:", base.windows_per_day,
      "- reward scale ($):", base.reward_scale)

obs, info = env.reset(seed=0, options={"day": day})
action = base.action_from_replicas(solutions["agh"].allocation.replicas)  # rent the static AGH fleet
obs, reward, terminated, truncated, info = env.step(action)
print(f"window 0: reward {reward:.4f}; demand {np.round(info['demand'], 2)} req/s; "
      f"SLO attainment {info['slo_attainment']['overall']:.3f}")
print({k: round(v, 3) for k, v in info["cost"].items()})

# %% [markdown]
# A **policy** maps observations to actions (`predict(obs) -> (action, state)`, the Stable-Baselines3
# signature). Two to start with: the static peak plan rented all day, and **reactive AGH**, which re-plans
# every window for the demand it saw in the last one (`baselines.policies.SolverPolicy`).

# %%
from baselines.policies import SolverPolicy


class FixedFleet:
    """Rent the same fleet every window."""

    def __init__(self, env, replicas, name):
        self.action, self.name = env.unwrapped.action_from_replicas(replicas), name

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return self.action, state


def run_windows(policy, env, day, n):
    """Run ``policy`` for the first ``n`` windows of ``day``; one row per window."""
    obs, info = env.reset(seed=0, options={"day": day})
    rows = []
    for t in range(n):
        action, _ = policy.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        rows.append({"window": t, "demand": float(np.sum(info["demand"])), "served": info["served_rate"],
                     "unmet": info["unmet_rate"], "slo": info["slo_attainment"]["overall"],
                     "gpus": sum(info["gpus_by_type"].values()), "cost $": info["cost"]["total"],
                     **{f"gpus {g}": n_g for g, n_g in info["gpus_by_type"].items()}})
        if terminated or truncated:
            break
    return pd.DataFrame(rows)


def score(trace):
    dem = trace["demand"].sum()
    return {"cost $": round(trace["cost $"].sum(), 2),
            "SLO attainment %": round(100 * (trace["slo"] * trace["demand"]).sum() / dem, 2),
            "unmet %": round(100 * trace["unmet"].sum() / dem, 2),
            "GPU-hours": round(trace["gpus"].sum() * base.window_s / 3600, 1)}


static = FixedFleet(env, solutions["agh"].allocation.replicas, "static peak plan (AGH)")
reactive = SolverPolicy(env, method="agh")
traces = {p.name: run_windows(p, env, day, WINDOWS) for p in (static, reactive)}
print(pd.DataFrame({name: score(tr) for name, tr in traces.items()}).T)

# %% [markdown]
# **Which is cheaper, and why?** Compare the columns. Reactive AGH rents fewer GPU-hours, but it leaves demand
# unmet and every unmet request costs its penalty. Its plan for the next window is sized for the demand of the
# last one, at full utilisation; when demand rises, or when a re-plan swaps replicas (a new replica serves only
# after its cold start), capacity falls short. The static plan is sized for the peak of 14 days and never
# changes. Part 3 adds two variants that separate the causes: the *oracle* (plans for the true next-window
# demand: no forecast error, but still cold starts) and *headroom* (plans for 10 % more demand than it saw).

# %%
tr = traces[reactive.name]
hours = tr["window"] * base.window_s / 3600
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
ax1.plot(hours, tr["demand"], label="demand")
ax1.plot(hours, tr["served"], "--", label="served")
ax1.set_ylabel("req/s")
ax1.legend()
gpu_cols = [c for c in tr.columns if c.startswith("gpus ") and tr[c].sum() > 0]
ax2.stackplot(hours, tr[gpu_cols].fillna(0).T.to_numpy(), labels=[c[5:] for c in gpu_cols], step="post")
ax2.set_ylabel("GPUs rented")
ax2.set_xlabel("hours into the test day")
ax2.legend(loc="upper left")
fig.suptitle(f"reactive AGH, HetServeSmall-v0, test day {day}")
fig.savefig(OUT / "reactive_agh_day.png", dpi=80)
print("saved", OUT / "reactive_agh_day.png")

# %% [markdown]
# ## Part 3 — a small learned agent
#
# `agents.train.train` trains PPO with the RL Zoo hyperparameters in `agents/hyperparams/ppo.yml` (the same
# as `hetserve train --algo ppo --env hetserve_env/HetServeSmall-v0`) on the *training* days, and saves the
# model with a JSON record. With the small settings it trains for a few seconds only — expect a poor agent;
# the full settings train 100,000 steps (about 4 minutes) and keep the model that did best on the validation
# days.

# %%
from agents.train import train

t0 = time.perf_counter()
record = train("ppo", "hetserve_env/HetServeSmall-v0", timesteps=TIMESTEPS, seed=0, log_dir=OUT,
               save_path=OUT / "ppo_small.zip", progress_bar=False, tensorboard=False)
print(f"trained {record['timesteps']:,} steps in {time.perf_counter() - t0:.0f} s; kept the {record['kept']} model")

# %% [markdown]
# ### Compare on the test day
#
# Every policy is scored by the same environment on the same windows of a held-out test day. The oracle AGH
# plans each window for its *true* demand — no real policy knows it, so it is a reference, not a competitor (and no
# bound either: it still re-plans each window from scratch, blind to cold starts, so a policy can beat it).
#
# **Why the oracle sits above (cheaper than) reactive AGH.** Both are the same planner re-planning every window;
# the only difference is the demand they plan for. Reactive AGH sizes the next window's fleet for the window
# that just passed, so on every rise of demand it is one window late and the extra requests go unmet (each pays
# its penalty); the oracle sizes it for the demand that will arrive. Their fleets are otherwise alike: on the
# full test day 12 of this scenario (`hetserve compare --scenario small --episodes 1 --policies agh,agh-oracle`)
# they rent the same GPU-hours (69.7 vs 69.8) and pay the same cold starts ($2.60), and the oracle's lower cost
# ($654 vs $951) is almost all unmet-demand penalty ($257 vs $560). That gap is what a perfect one-window
# forecast is worth to this planner; a policy that plans ahead (headroom, or the agent) can close part of it.

# %%
from agents.evaluation import AgentPolicy
from baselines.policies import RandomPolicy

policies = [
    RandomPolicy(env, seed=0),
    static,
    SolverPolicy(env, method="gh"),
    reactive,
    SolverPolicy(env, method="agh", estimate="headroom", headroom=0.1),
    SolverPolicy(env, method="agh", estimate="oracle"),
    AgentPolicy(OUT / "ppo_small.zip", env, name=f"PPO ({record['timesteps']:,} steps)"),
]
table = pd.DataFrame({getattr(p, "name", type(p).__name__): score(run_windows(p, env, day, WINDOWS))
                      for p in policies}).T
print(f"test day {day}, first {WINDOWS} windows")
print(table.sort_values("cost $"))

# %% [markdown]
# ## What next
#
# * Read `docs/concepts.md` for the ideas behind each step, and `docs/model.md` for every formula and source.
# * Try the exercises in `docs/exercises.md` — change the budget, switch off a mechanism, lengthen the cold
#   start — and explain what you see with `hetserve solve … --explain`.
# * Train longer (`hetserve train --algo ppo --env hetserve_env/HetServeSmall-v0`) and compare with
#   `hetserve compare --scenario small`.
