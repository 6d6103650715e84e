"""The one place that creates, configures and runs HiGHS models (``highspy``, imported on first use).

Every HiGHS model of the project goes through here: the exact routing LP (:func:`hetserve_env.routing.route_lp`),
AGH's routing LP and the LP relaxation (``baselines``), and the MILP through PuLP's HiGHS interface
(``baselines/milp.py``). Why one place: HiGHS runs every model on one *process-global* thread scheduler, sized by
the first model that runs. A later model asking for a different ``threads`` value is refused (highspy 1.16 returns
model status "Not Set"), so the outcome would depend on which caller ran first. :func:`run` therefore knows the
scheduler's size, resets the scheduler (``Highs.resetGlobalScheduler``) when a model asks for another size, and, if
the scheduler was sized outside this module, resets it and retries once.

Every model gets the same options from :func:`configure`: output off (unless asked), ``threads`` set explicitly
(default :data:`THREADS`, never HiGHS's machine-dependent default) and an optional time limit. A model status
outside what the caller accepts raises :class:`HighsStatusError` naming the model and the status.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

#: threads of every HiGHS model unless a caller asks otherwise (the MILP's ``threads`` option)
THREADS = 1

_scheduler: dict[str, Any] = {"threads": None, "resets": 0, "retries": 0}


class HighsStatusError(RuntimeError):
    """A HiGHS model ended with a status its caller cannot use; the message names the model and the status."""

    def __init__(self, model: str, status: str, detail: str = "") -> None:
        self.model, self.status = model, status
        super().__init__(f"HiGHS model {model!r} ended with status {status!r}" + (f": {detail}" if detail else ""))


def highspy() -> Any:
    """The ``highspy`` module (imported here, so ``import hetserve_env`` does not load it)."""
    try:
        import highspy as hs
    except ImportError as exc:  # pragma: no cover - highspy is a dependency
        raise ImportError("this solver needs highspy (pip install highspy)") from exc
    return hs


def check_threads(threads: Any, name: str = "threads") -> int:
    """``threads`` as an int >= 1, else ValueError naming the option and the value."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {threads!r}")
    return int(threads)


def check_time_limit(time_limit: Any, name: str = "time_limit") -> float | None:
    """``time_limit`` as a finite float > 0 (seconds) or None (no limit), else ValueError."""
    if time_limit is None:
        return None
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)):
        raise ValueError(f"{name} must be a finite number of seconds > 0 or None, got {time_limit!r}")
    t = float(time_limit)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0 or None, got {time_limit!r}")
    return t


def configure(h: Any, *, threads: int = THREADS, time_limit: float | None = None, msg: bool = False,
              **options: Any) -> Any:
    """Apply the project's options to the Highs object ``h`` (and any extra HiGHS ``options``); returns ``h``."""
    hs = highspy()
    values = {"output_flag": bool(msg), "threads": check_threads(threads)}
    if time_limit is not None:
        values["time_limit"] = max(float(check_time_limit(time_limit)), 1e-3)
    values.update(options)
    for key, value in values.items():
        if h.setOptionValue(key, value) != hs.HighsStatus.kOk:
            raise ValueError(f"HiGHS option {key!r} refused the value {value!r}")
    return h


def new(**options: Any) -> Any:
    """A new ``highspy.Highs`` configured by :func:`configure`."""
    return configure(_quiet_highs(msg=bool(options.get("msg", False))), **options)


def _quiet_highs(msg: bool) -> Any:
    """``highspy.Highs()`` without its banner: highspy prints "Running HiGHS …" to the C-level stdout when the
    first Highs object of a process is made, before any option can be set, so that one construction runs
    with file descriptor 1 pointed at /dev/null (unless output was asked for)."""
    hs = highspy()
    if msg or _scheduler.get("banner_done"):
        return hs.Highs()
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            h = hs.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _scheduler["banner_done"] = True
    return h


def _reset() -> None:
    highspy().Highs.resetGlobalScheduler(True)
    _scheduler["resets"] += 1


def run(h: Any, model: str) -> str:
    """Run ``h`` on a scheduler of the size it asks for; return its model status as HiGHS words
    (e.g. "Optimal", "Time limit reached"). "Not Set" after the retry raises :class:`HighsStatusError`."""
    hs = highspy()
    value = h.getOptionValue("threads")
    threads = int(value[1] if isinstance(value, tuple) else value)  # highspy 1.16: (HighsStatus, value)
    if _scheduler["threads"] not in (None, threads):
        _reset()
    h.run()
    if h.getModelStatus() == hs.HighsModelStatus.kNotset:
        # the scheduler was sized by someone else (another library, user code): resize and retry once
        _reset()
        _scheduler["retries"] += 1
        h.run()
    _scheduler["threads"] = threads
    status = h.modelStatusToString(h.getModelStatus())
    if h.getModelStatus() == hs.HighsModelStatus.kNotset:
        raise HighsStatusError(model, status, "the model was not solved (HiGHS refused to start)")
    return status


def run_expect(h: Any, model: str, accept: Iterable[str] = ("Optimal",)) -> str:
    """:func:`run`, then raise :class:`HighsStatusError` unless the status is one of ``accept``."""
    status = run(h, model)
    accepted = tuple(accept)
    if status not in accepted:
        raise HighsStatusError(model, status, f"expected {' or '.join(repr(a) for a in accepted)}")
    return status


def after_fork() -> None:
    """In a forked child: the inherited scheduler has no worker threads; forget its size and rebuild it."""
    if _scheduler["threads"] is not None:
        highspy().Highs.resetGlobalScheduler(False)
    _scheduler["threads"] = None


def scheduler_info() -> dict[str, Any]:
    """The thread count this module last ran HiGHS with, and how often it reset the global scheduler."""
    return dict(_scheduler)
