"""Run directories of ``hetserve train``: never overwrite a run silently, save what resuming needs, resume.

A run directory ``<log-dir>/<algo>_<env>_s<seed>/`` holds ``run.json`` (the settings of the run, written before
training starts), ``progress.csv``, TensorBoard events, ``checkpoints/model_<steps>_steps.zip`` (+ VecNormalize
statistics) and ``evaluations.npz`` / ``best_model.zip``. Training into a directory that already holds files is
refused unless the caller asks to overwrite (the directory is then emptied) or to resume (continue from the last
checkpoint with the saved settings).
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import re
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
_CHECKPOINT = re.compile(r"^model_(\d+)_steps\.zip$")


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1, else a ValueError naming ``name`` (numpy integers accepted; bools, NaN,
    infinities and non-integral floats refused)."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and float(value).is_integer()
    if not ok or int(value) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (all threads): what a training budget counts."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def positive_minutes(name: str, value: Any, most: float = 24 * 60) -> float:
    """``value`` as minutes in (0, ``most``], else a ValueError naming ``name`` and the range.

    Any real number is accepted (numpy integers and floats included); bools, NaN and infinities are refused."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < float(value) <= most
    if not ok:
        raise ValueError(f"{name} must be a number of minutes in (0, {most:g}], got {value!r}")
    return float(value)


def run_dir_for(log_dir: str | Path, algo: str, env_id: str, seed: int) -> Path:
    short = env_id.split(":", 1)[-1].split("/")[-1]
    return Path(log_dir) / f"{algo}_{short}_s{seed}"


def model_path(save_path: str | Path | None, run_dir: Path) -> Path:
    p = Path(save_path) if save_path is not None else run_dir / "model.zip"
    return p if p.suffix == ".zip" else p.with_suffix(".zip")


def _model_files(save: Path) -> list[Path]:
    return [save, save.with_suffix(".json"), save.with_name(save.stem + "_vecnormalize.pkl")]


def prepare(run_dir: Path, save: Path, overwrite: bool) -> None:
    """Refuse a run directory with files in it, or an existing model at ``save``, unless ``overwrite``; with
    ``overwrite`` remove them first so logs of two runs never mix."""
    held = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    models = [p for p in _model_files(save) if p.exists()]
    if (held or models) and not overwrite:
        what = f"{run_dir} already holds a run ({', '.join(held[:5])}{', …' if len(held) > 5 else ''})" if held \
            else f"{models[0]} exists"
        raise ValueError(f"{what}; continue it with --resume {run_dir} (resume() in Python), replace it with "
                         f"--overwrite (overwrite=True), or choose another --log-dir/--seed/--save")
    if held:
        shutil.rmtree(run_dir)
    for p in models:
        p.unlink(missing_ok=True)  # (inside run_dir: already gone)
    run_dir.mkdir(parents=True, exist_ok=True)
    save.parent.mkdir(parents=True, exist_ok=True)


def write_spec(run_dir: Path, spec: dict[str, Any]) -> None:
    """Save the run's settings (``run.json``). Settings that are not JSON values (objects passed from Python)
    are written as their repr and the run is marked not resumable."""
    try:
        text = json.dumps(spec, indent=2) + "\n"
    except (TypeError, ValueError):
        text = json.dumps({**spec, "resumable": False}, indent=2, default=repr) + "\n"
    tmp = run_dir / (RUN_FILE + ".tmp")
    tmp.write_text(text)
    tmp.replace(run_dir / RUN_FILE)


def read_spec(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a resumable run directory: no {RUN_FILE} (written by hetserve "
                                f"train when a run starts)")
    spec = json.loads(path.read_text())
    if not isinstance(spec, dict) or spec.get("kind") != "hetserve.train_run":
        raise ValueError(f"{path}: not a hetserve training run record")
    if spec.get("resumable") is False:
        raise ValueError(f"{path}: the run was started with settings that are not JSON values (Python objects "
                         f"in hyperparameters or env kwargs), so it cannot be resumed; write them as strings")
    return spec


def saved_model_path(spec: dict[str, Any], run_dir: Path) -> Path:
    """The model path of a run: relative paths in ``run.json`` are relative to the run directory."""
    p = Path(spec["save_path"])
    return p if p.is_absolute() else Path(run_dir) / p


def spec_model_path(save: Path, run_dir: Path) -> str:
    """How ``run.json`` stores the model path: relative to the run directory when inside it (the run directory
    can be moved and resumed from anywhere), else absolute."""
    try:
        return str(save.resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(save.resolve())


@dataclass(frozen=True)
class Checkpoint:
    model: Path
    steps: int
    vecnormalize: Path | None


def latest_checkpoint(run_dir: Path) -> Checkpoint:
    """The checkpoint with the most steps in ``run_dir/checkpoints`` (CheckpointCallback's names)."""
    found = []
    for p in (run_dir / "checkpoints").glob("model_*_steps.zip"):
        m = _CHECKPOINT.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    if not found:
        raise FileNotFoundError(f"no checkpoint in {run_dir / 'checkpoints'} to resume from; start the run again "
                                f"with --overwrite")
    steps, model = max(found)
    vn = run_dir / "checkpoints" / f"model_vecnormalize_{steps}_steps.pkl"
    return Checkpoint(model, steps, vn if vn.exists() else None)


def read_progress(run_dir: Path, upto: int) -> str | None:
    """``progress.csv`` rows logged at ``time/total_timesteps`` <= ``upto`` (the rows after the checkpoint
    describe training that the resume redoes), as CSV text, or None if there is no log."""
    path = run_dir / "progress.csv"
    if not path.exists() or not path.read_text().strip():
        return None
    rows = list(csv.reader(io.StringIO(path.read_text())))
    header, body = rows[0], rows[1:]
    col = header.index("time/total_timesteps") if "time/total_timesteps" in header else None
    kept = [r for r in body if col is None or not r[col] or float(r[col]) <= upto]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *kept])
    return out.getvalue()


def continue_csv(logger: Any, text: str | None) -> None:
    """Put the earlier rows back into the SB3 logger's CSV output (which opened progress.csv afresh), so the
    resumed run appends to them; SB3 adds columns for new keys itself."""
    if not text:
        return
    from stable_baselines3.common.logger import CSVOutputFormat

    for fmt in logger.output_formats:
        if isinstance(fmt, CSVOutputFormat):
            fmt.file.write(text)
            fmt.file.flush()
            fmt.keys = next(csv.reader(io.StringIO(text)))


def restore_evaluations(callback: Any, run_dir: Path) -> None:
    """Give a fresh EvalCallback the history of ``evaluations.npz`` and its best mean reward, so it appends to
    the file and replaces ``best_model.zip`` only with a better model."""
    import numpy as np

    path = run_dir / "evaluations.npz"
    if not path.exists():
        return
    with np.load(path) as ev:
        callback.evaluations_timesteps = [int(t) for t in ev["timesteps"]]
        callback.evaluations_results = [list(r) for r in ev["results"]]
        callback.evaluations_length = [list(r) for r in ev["ep_lengths"]]
        if "successes" in ev.files:
            callback.evaluations_successes = [list(r) for r in ev["successes"]]
    if callback.evaluations_results:
        means = [float(np.mean(r)) for r in callback.evaluations_results]
        callback.best_mean_reward = max(means)
        callback.last_mean_reward = means[-1]


__all__ = ["Checkpoint", "RUN_FILE", "continue_csv", "latest_checkpoint", "model_path", "positive_int", "prepare",
           "read_progress", "read_spec", "restore_evaluations", "run_dir_for", "saved_model_path", "spec_model_path",
           "write_spec"]
