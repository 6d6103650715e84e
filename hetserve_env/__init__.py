"""hetserve: provisioning heterogeneous GPU fleets for LLM inference, as a Gymnasium environment.

The problem (catalog, performance model, Problem, Allocation, ``evaluate``) is importable on its own:
nothing here imports SB3, torch or PuLP.
"""

from .allocation import Allocation, Evaluation, Violation, evaluate
from .catalog import Catalog, CatalogError, load_catalog
from .problem import Problem
from .scenario import Scenario, ScenarioError, builtin_scenarios, load_scenario
from . import registration  # noqa: E402,F401  (registers the hetserve_env/ gymnasium ids)

__version__ = "0.1.0"

__all__ = [
    "Allocation", "Catalog", "CatalogError", "Evaluation", "Problem", "Scenario", "ScenarioError",
    "Violation", "builtin_scenarios", "evaluate", "load_catalog", "load_scenario", "__version__",
]
