"""The ``hetserve`` command. Each subcommand lives with the code it drives and is imported only when used,
so ``hetserve scenarios`` never loads PuLP or torch.

A *user* error prints one line and exits with status 2: a bad argument, ``ValueError`` (the project's
ScenarioError, CatalogError, TraceError, InstanceError and the policy import error are ValueErrors),
``FileNotFoundError``, and the error classes a subcommand's module lists in ``USER_ERRORS`` (e.g. SolverError).
Anything else (TypeError, AttributeError, KeyError, ...) is a programming error and keeps its traceback."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, NoReturn, Sequence

#: what ``hetserve --help`` says (the module docstring is for developers)
DESCRIPTION = """hetserve: provision heterogeneous GPU fleets for LLM inference.

Look at scenarios and the catalog, solve a planning window with GH, AGH or the MILP, train a learned agent,
and score any policy (yours too: module:attr) on the same days and metrics.

Start with:  hetserve scenarios    hetserve inspect small    hetserve compare --scenario small --episodes 1
Your own scenario, catalog and policy: docs/your-own.md; every scenario field: docs/scenario-reference.md"""

# name -> (module, help). The module defines add_arguments(parser) and run(args) -> int (or
# add_arguments_<name>/run_<name>), and optionally USER_ERRORS: more exception classes that are user errors.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "scenarios": ("hetserve_env.commands", "list the built-in scenarios"),
    "inspect": ("hetserve_env.commands", "show a scenario's templates: GPUs, $/h, capacity per type, latency"),
    "demand": ("hetserve_env.commands", "summarise a scenario's demand per split and query type"),
    "catalog": ("hetserve_env.commands", "list GPU types, models and precisions with their key figures"),
    "solve": ("baselines.cli", "solve a scenario window or a Problem JSON with GH, AGH or the MILP"),
    "hindsight": ("baselines.hindsight_cli", "the hindsight bound and clairvoyant plan of whole episodes (MILP)"),
    "train": ("agents.cli", "train a learned agent (PPO, A2C, MaskablePPO; --backend rllib)"),
    "evaluate": ("agents.cli", "evaluate a policy or a saved model on a split"),
    "compare": ("agents.cli", "the main job: reference policies and the shipped agent on the test days"),
    "sweep": ("agents.sweep", "seeds x algorithms x hyperparameters as Ray Tune trials, one results table"),
    "benchmark": ("agents.benchmark_cli", "the benchmark protocol: test days × noise seeds, normalised scores, IQM and CIs"),
}


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse names the option and exits with status 2 otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse with a user error on one line (``hetserve X: error: …``, exit 2) instead of usage + error;
    ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


#: exceptions every subcommand reports as a user error (one line, exit 2)
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError)


def _hook(module: str, name: str, what: str) -> Callable:
    mod = importlib.import_module(module)
    fn = getattr(mod, f"{what}_{name}", None) or getattr(mod, what)
    return fn


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="hetserve", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    for name, (module, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        try:
            _hook(module, name, "add_arguments")(p)
        except ImportError as exc:  # a part not installed: say so when used
            p.set_defaults(_missing=f"{module}: {exc}")
    return parser


def _fail(name: str, exc: BaseException) -> int:
    msg = " ".join(str(exc).split())  # one line, whatever the message
    print(f"hetserve {name}: error: {msg}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hetserve ARGV``; the exit status (0 ok, 1 no feasible result, 2 a user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Build only the parser for the chosen command so unrelated modules are not imported.
    if argv and argv[0] in SUBCOMMANDS and argv[0] not in ("-h", "--help"):
        name = argv[0]
        module, help_ = SUBCOMMANDS[name]
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # an optional part (e.g. torch for the agents) is not installed
            return _fail(name, ImportError(f"this command needs {module}, which cannot be imported: {exc}"))
        user_errors = USER_ERRORS + tuple(getattr(mod, "USER_ERRORS", ()))
        parser = OneLineParser(prog=f"hetserve {name}", description=help_)
        _hook(module, name, "add_arguments")(parser)
        args = parser.parse_args(argv[1:])
        try:
            return int(_hook(module, name, "run")(args) or 0)
        except user_errors as exc:
            return _fail(name, exc)
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
