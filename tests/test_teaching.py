"""Teaching material: the explain log names the mechanisms that fired, the figures script, the concepts guide's
log excerpts, the exercises' model answers, and the tutorial (script and notebook, small settings)."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import runpy
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

import baselines
import hetserve_env
from baselines.gh import LOG_TAGS
from baselines.instances import generate, parse_spec

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCRIPT = ROOT / "scripts" / "tutorial.py"
NOTEBOOK = DOCS / "tutorial.ipynb"


def tags(log: list[str]) -> set[str]:
    return {line.split(" ", 1)[0] for line in log}


@pytest.fixture(scope="module")
def small():
    return hetserve_env.load_scenario("small").problem()


# ------------------------------------------------------------------------------------------- explain log

def test_gh_explain_names_every_mechanism_and_constraint(small):
    sol = baselines.solve(small, "gh", explain=True)
    assert sol.feasible
    for line in sol.log:
        assert line.split(" ", 1)[0] in LOG_TAGS, line  # every line starts with a mechanism tag
    assert {"[start]", "[M1]", "[coverage]", "[M2]", "[result]"} <= tags(sol.log)
    m1 = [line for line in sol.log if line.startswith("[M1]") and "filtered by" in line]
    assert len(m1) == small.n_types
    for word in ("memory", "delay", "by M1", "error SLO", "budget", "inventory"):
        assert all(word in line for line in m1), word
    steps = [line for line in sol.log if line.startswith("[M2]") and " step " in line]
    assert steps and all("best by $/h per effective req/s" in line for line in steps)
    chosen = [line for line in sol.log if line.startswith("[M2]") and ": open " in line]
    assert chosen and all("per effective req/s" in line for line in chosen)
    assert any("filtered:" in line and "inventory" in line for line in steps)  # the L40S inventory runs out
    assert "[M3]" not in tags(sol.log)  # docs/concepts.md §4: under model v1, GH on `small` needs no TP upgrade
    assert sol.log[-1].startswith("[result] decisions logged per mechanism: ")


def test_explain_is_only_a_log(small):
    """explain=True changes nothing but the log; the default log holds only the result lines."""
    for method in ("gh", "agh"):
        quiet, loud = baselines.solve(small, method), baselines.solve(small, method, explain=True)
        assert np.array_equal(quiet.allocation.replicas, loud.allocation.replicas)
        assert quiet.objective == pytest.approx(loud.objective, abs=1e-12)
        assert not tags(quiet.log) & {"[M1]", "[M2]", "[M3]", "[coverage]", "[local-search]", "[consolidation]"}
        assert len(loud.log) > len(quiet.log)


def test_explain_budget_filter_and_unmet(small):
    """docs/exercises.md 1: at $11.5/h GH spends the budget on chat and cannot place code."""
    sol = baselines.solve(dataclasses.replace(small, budget=11.5), "gh", explain=True)
    steps = [line for line in sol.log if line.startswith("[M2]") and " step " in line]
    assert any(re.search(r"filtered: budget \d+", line) for line in steps)
    assert any("unmet" in line and line.startswith("[M2]") and "leave" in line for line in sol.log)
    assert not sol.feasible and "budget" in next(line for line in sol.log if line.startswith("[failed]"))


def test_mechanism_switches_show_in_the_log():
    p = generate(2, 2, 2, seed=49)  # docs/exercises.md 3, docs/concepts.md §4 (ablation), scripts/tutorial.py
    on = baselines.solve(p, "gh", explain=True)
    off = baselines.solve(p, "gh", m3=False, explain=True)
    assert on.feasible and any(line.startswith("[M3]") and "TP upgrade" in line and "/h per effective req/s" in line
                               for line in on.log)
    assert not off.feasible and not any("M3" in line for line in off.log)
    failed = [line for line in off.log if line.startswith("[failed]")]
    assert failed and "budget" in failed[0]
    no_m1 = baselines.solve(p, "gh", m1=False, explain=True)
    assert "[filter]" in tags(no_m1.log) and "[M1]" not in tags(no_m1.log)
    no_m2 = baselines.solve(p, "gh", m2=False, explain=True)
    assert "[step]" in tags(no_m2.log) and "[M2]" not in tags(no_m2.log)


def test_agh_explain_local_search_and_consolidation():
    p = generate(4, 4, 4, seed=6)
    sol = baselines.solve(p, "agh", explain=True)
    t = tags(sol.log)
    assert {"[start]", "[M1]", "[M2]", "[stage2]", "[local-search]", "[consolidation]", "[result]"} <= t
    moves = [line for line in sol.log if line.startswith(("[local-search]", "[consolidation]"))]
    assert all(re.search(r"saves \$\d+\.\d{4}/h", line) for line in moves)
    assert not any(line.startswith("[local-search]") for line in
                   baselines.solve(p, "agh", local_search=False, explain=True).log)
    assert not any(line.startswith("[consolidation]") for line in
                   baselines.solve(p, "agh", consolidation=False, explain=True).log)


def test_cli_explain_prints_template_filters_and_mechanisms(capsys):
    from hetserve_env.cli import main

    assert main(["solve", "small", "--method", "gh", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "decision log" in out
    for tag in ("[templates]", "[memory]", "[M1]", "[coverage]", "[M2]", "[result]"):
        assert f"  {tag} " in out, tag
    # vLLM's memory rule (docs/model.md §3): 65.0 GB of weights + 1 GB activations + 2,048 KV tokens > 0.9 x 24 GB
    assert re.search(r"\[memory\] 4 dropped .* engine 'vllm' .*Qwen2\.5-32B@L4/fp16 TP1 PP1 \(needs 66\.5 GB = "
                     r"weights 65\.0 \+ activations 1 \+ KV 0\.5 > 0\.9 x 1 x 24 GB = 21\.6 GB\)", out)
    assert main(["solve", "instance:2x2x2:seed=49", "--method", "gh", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "  [M3] " in out and "[templates]" not in out  # a synthetic instance's templates are given


@pytest.mark.parametrize("engine", ["vllm", "trtllm"])
def test_memory_lines_follow_the_engine_rule(tmp_path, engine):
    """Every [memory] line states an inequality that holds (needs > available), under either memory rule."""
    from baselines.cli import template_filter_lines

    path = tmp_path / "s.yaml"
    path.write_text(_small_raw() + f"\nengine: {engine}\n")
    line = next(ln for ln in template_filter_lines(str(path), max_examples=100) if ln.startswith("[memory]"))
    found = re.findall(r"needs (\d+\.\d) GB = [^>]*> [^=]*= (\d+\.\d) GB", line)
    assert found and int(line.split()[1]) == len(found)
    assert all(float(need) > float(avail) for need, avail in found)
    assert ("left after weights" in line) == (engine == "trtllm")


# ------------------------------------------------------------------------------------------- figures, docs

def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"_teaching_{name}", ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_make_figures(tmp_path):
    mf = _load_script("make_figures")
    written = mf.make(tmp_path, windows=3)
    assert set(written) == set(mf.FIGURES)
    for name in mf.FIGURES:
        for path in (written[name], DOCS / "figures" / f"{name}.png"):  # fresh and committed
            data = path.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000, path
        assert f"figures/{name}.png" in (DOCS / "concepts.md").read_text()


def test_concepts_gh_log_excerpts_are_real(small):
    """Every fragment of the GH log excerpts in docs/concepts.md §4 is in today's log (of `small`, and for the
    M3 excerpts of generate(2,2,2,seed=49) with and without M3)."""
    from baselines.cli import template_filter_lines

    text = (DOCS / "concepts.md").read_text()
    section = text[text.index("## 4. GH"):text.index("## 5. AGH")]
    m3 = generate(2, 2, 2, seed=49)
    log = "\n".join(baselines.solve(small, "gh", explain=True).log + template_filter_lines("small")
                    + baselines.solve(m3, "gh", explain=True).log + baselines.solve(m3, "gh", m3=False, explain=True).log)
    lines = [ln for block in re.findall(r"```text\n(.*?)```", section, re.S) for ln in block.splitlines()]
    assert len(lines) >= 10
    for line in lines:
        for frag in re.split(r"\[…\]|…", line):
            frag = frag.strip(" ,;")
            if len(frag) > 8:
                assert frag in log, frag


# ------------------------------------------------------------------------------------------- exercises

def _small_raw() -> str:
    return (Path(hetserve_env.__file__).parent / "scenarios" / "small.yaml").read_text()


def _edited(old: str, new: str) -> hetserve_env.Scenario:
    """The scenario after the exercise's sed edit (the same text replacement)."""
    raw = _small_raw()
    assert re.search(old, raw, re.M), old
    return hetserve_env.Scenario(yaml.safe_load(re.sub(old, new, raw, count=1, flags=re.M)))


def _milp(problem):
    sol = baselines.solve(problem, "milp", solver="highs", warm_start=False, time_limit=60)
    assert sol.status == "optimal"
    return sol


def test_exercise_answers_static():
    # 0. the optimum of `small`: GH's own fleet
    base = hetserve_env.load_scenario("small").problem()
    assert _milp(base).objective == pytest.approx(24.9844, abs=1e-3)
    assert baselines.solve(base, "gh").objective == pytest.approx(24.9844, abs=1e-3)
    # 1. budget: at $11.5/h GH fails, the MILP (and AGH) leave 4 % of chat unmet; at $11/h nothing is feasible
    b115 = _edited(r"^budget_per_hour: 60", "budget_per_hour: 11.5").problem()
    sol = _milp(b115)
    assert sol.objective == pytest.approx(216.3947, abs=1e-3)
    assert sol.allocation.unmet[b115.type_names.index("chat")] == pytest.approx(0.0414, abs=1e-4)
    assert not baselines.solve(b115, "gh").feasible
    assert baselines.solve(b115, "agh").objective == pytest.approx(216.3947, abs=1e-3)
    b11 = _edited(r"^budget_per_hour: 60", "budget_per_hour: 11").problem()
    assert baselines.solve(b11, "milp", solver="highs", warm_start=False, time_limit=60).status == "infeasible"
    # 2. delay SLO 1 s for code: 13 templates cannot serve it; the L4 leaves the optimal fleet
    td = _edited(r"^    delay_slo_s: 6$", "    delay_slo_s: 1.0").problem()
    assert int((td.capacity[td.type_names.index("code")] == 0).sum()) == 13
    sol = _milp(td)
    assert sol.objective == pytest.approx(25.8824, abs=1e-3)
    assert [td.template_labels[d] for d in np.flatnonzero(sol.allocation.replicas)] == ["Qwen2.5-7B@L40S/int8 TP1 PP1"]
    # 3. M3 on the synthetic instance
    inst = parse_spec("instance:2x2x2:seed=49")
    assert baselines.solve(inst, "gh").objective == pytest.approx(25.7887, abs=1e-3)
    assert not baselines.solve(inst, "gh", m3=False).feasible
    # 4. error SLO 0.135 for chat: a blend with mean error exactly at the SLO
    te = _edited(r"^    error_slo: 0.15$", "    error_slo: 0.135").problem()
    sol = _milp(te)
    assert sol.objective == pytest.approx(33.1984, abs=1e-3)
    assert sol.evaluation.mean_error[te.type_names.index("chat")] == pytest.approx(0.135, abs=1e-6)
    assert baselines.solve(te, "gh").objective == pytest.approx(33.2243, abs=1e-3)
    # 5. no H100 in the optimum; a higher delay penalty or a cheaper H100 brings two in
    def h100s(problem, sol):
        return sum(int(r) for lab, r in zip(problem.template_labels, sol.allocation.replicas) if "H100" in lab)

    assert h100s(base, _milp(base)) == 0
    rho = hetserve_env.Scenario(yaml.safe_load(_small_raw().replace("    delay_penalty: 0.00002", "    delay_penalty: 0.0001")))
    sol = _milp(rho.problem())
    assert sol.objective == pytest.approx(49.9893, abs=1e-3) and h100s(rho.problem(), sol) == 2
    for price, objective, n in ((9.0, 24.9844, 0), (8.0, 23.2152, 2)):
        ch = hetserve_env.Scenario(yaml.safe_load(_small_raw() + f"\ncatalog_overrides: {{gpus: {{H100-SXM: {{price_per_hour: {price}}}}}}}\n"))
        sol = _milp(ch.problem())
        assert sol.objective == pytest.approx(objective, abs=1e-3) and h100s(ch.problem(), sol) == n, price


def test_exercise_answer_latency_by_hand(small):
    from hetserve_env.perf import latency_at_utilisation

    d = small.template_labels.index("Qwen2.5-32B@L40S/fp16 TP2 PP1")
    e0, s, mu = small.latency[0, d], small.load_slope[0, d], small.capacity[0, d]
    assert (round(e0, 2), round(s, 3), round(mu, 2)) == (12.41, 0.379, 1.13)
    u = (1 - e0 / 15) / s
    assert round(u, 3) == 0.455 and round(u * mu, 2) == 0.51
    assert float(latency_at_utilisation(e0, s, 1.0)) == pytest.approx(20.0, rel=1e-9)  # the delay SLO binds


# ------------------------------------------------------------------------------------------- tutorial

def _header_tools() -> dict:
    """The tooling header of scripts/tutorial.py (split_cells, write_notebook) without running the cells."""
    text = SCRIPT.read_text()
    header = text[:text.index("\n# %%")]
    ns: dict = {"__name__": "tutorial_header", "__file__": str(SCRIPT)}
    exec(compile(header, str(SCRIPT), "exec"), ns)
    return ns


def test_notebook_matches_script():
    import nbformat

    cells = _header_tools()["split_cells"](SCRIPT.read_text())
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert [(c.cell_type, c.source) for c in nb.cells] == cells, \
        "docs/tutorial.ipynb is out of date: run python scripts/tutorial.py --write-notebook"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    kinds = [k for k, _ in cells]
    assert kinds.count("code") >= 10 and kinds.count("markdown") >= 8


@pytest.fixture
def tutorial_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HETSERVE_TUTORIAL_SMALL", "1")
    monkeypatch.setenv("HETSERVE_TUTORIAL_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def test_tutorial_script_small(tutorial_env, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--small"])
    g = runpy.run_path(str(SCRIPT), run_name="__main__")
    import matplotlib.pyplot as plt

    plt.close("all")
    assert g["SMALL"] and g["WINDOWS"] == 12
    s = g["solutions"]
    assert all(sol.feasible for sol in s.values())
    assert s["milp"].objective <= s["agh"].objective + 1e-6 <= s["gh"].objective + 2e-6
    assert {"[M1]", "[M2]"} <= tags(g["gh"].log)
    assert "[M3]" in tags(g["with_m3"].log) and not g["without_m3"].feasible  # the ablation cell
    assert g["record"]["timesteps"] >= 2_000
    table = g["table"]
    assert len(table) == 7 and any(name.startswith("PPO") for name in table.index)
    assert (table["cost $"] > 0).all()
    assert (tutorial_env / "ppo_small.zip").exists() and (tutorial_env / "reactive_agh_day.png").exists()


def test_tutorial_notebook_executes(tutorial_env):
    """Run docs/tutorial.ipynb with nbclient (small settings). If no Jupyter kernel is available here, the
    notebook's code cells are executed in-process instead (with a warning that says so)."""
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        from nbclient import NotebookClient

        KernelSpecManager().get_kernel_spec("python3")
    except (ImportError, NoSuchKernel) as exc:
        warnings.warn(f"no Jupyter kernel ({exc!r}): executing the notebook's code cells in-process")
        ns: dict = {"__name__": "__main__"}
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, "tutorial.ipynb", "exec"), ns)
        assert any(n.startswith("PPO") for n in ns["table"].index)
        return
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tutorial_env)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    last = "".join(o.get("text", "") for o in nb.cells[-2].outputs)
    assert "PPO" in last and "AGH (next-window oracle)" in last
