"""RL Zoo hyperparameter entries: loading, the algorithm classes, and a safe parser for their string values.

RL Zoo writes some values as Python expressions (``policy_kwargs: "dict(net_arch=[64, 64], activation_fn=
nn.ReLU)"``, ``normalize: "dict(norm_obs=False)"``). RL Zoo ``eval``s them; a YAML file or a ``--set`` value
would then run any code it likes (``__import__('os').system(...)``). :func:`parse_expression` reads them with
:mod:`ast` instead and accepts only literals, ``dict(...)`` / ``list(...)`` / ``tuple(...)`` of literals, and the
torch names in :data:`ALLOWED_NAMES`; anything else is a :class:`ValueError` naming the key and the expression.

Names of classes in the YAML (``policy``, ``env_wrapper``, ``callback``) are imported and must be a subclass of
what the key needs (:func:`import_class`), so a YAML entry cannot name an arbitrary function to call.
"""

from __future__ import annotations

import ast
import copy
import importlib
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from .paths import HYPERPARAMS_DIR

ALGOS = ("ppo", "a2c", "ppo_mask")

_ACTIVATIONS = ("ReLU", "Tanh", "ELU", "LeakyReLU", "SiLU", "GELU", "Sigmoid", "Softplus", "Mish", "SELU",
                "CELU", "Hardswish", "Hardtanh", "PReLU", "ReLU6", "Softsign", "Tanhshrink", "Identity")
_OPTIMIZERS = ("Adam", "AdamW", "RMSprop", "SGD", "Adagrad", "Adamax", "NAdam", "RAdam")
#: dotted names an expression may use: torch activation classes and optimizers, under the aliases RL Zoo's
#: YAML files use (``nn.``, ``th.nn.``, ``torch.nn.``, ``th.optim.``, ``torch.optim.``)
ALLOWED_NAMES: frozenset[str] = frozenset(
    [f"{p}{a}" for p in ("nn.", "th.nn.", "torch.nn.") for a in _ACTIVATIONS]
    + [f"{p}{o}" for p in ("th.optim.", "torch.optim.") for o in _OPTIMIZERS])
_CALLS = {"dict": dict, "list": list, "tuple": tuple}


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a plain name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _resolve_name(dotted: str) -> Any:
    """An :data:`ALLOWED_NAMES` entry as the torch object (torch is imported only when a name is used)."""
    import torch

    module = torch.optim if ".optim." in f".{dotted}" else torch.nn
    return getattr(module, dotted.rsplit(".", 1)[1])


def _value(node: ast.AST, key: str, text: str) -> Any:
    def bad(why: str) -> ValueError:
        return ValueError(f"{key}: {text!r} is not an allowed hyperparameter expression ({why}); allowed: "
                          f"literals, dict/list/tuple of them, and the torch names nn.<activation>, "
                          f"th.optim.<optimizer> (agents.zoo_config.ALLOWED_NAMES)")

    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, complex, str, bool, type(None))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) \
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_value(e, key, text) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise bad("'**' in a dict")
        return {_value(k, key, text): _value(v, key, text) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        if name is None or name not in ALLOWED_NAMES:
            raise bad(f"name {ast.unparse(node)!r} is not on the allow-list")
        return _resolve_name(name)
    if isinstance(node, ast.Call):
        fn = node.func.id if isinstance(node.func, ast.Name) else None
        if fn not in _CALLS:
            raise bad(f"call of {ast.unparse(node.func)!r}")
        if any(k.arg is None for k in node.keywords):
            raise bad("'**' in a call")
        if fn == "dict" and node.args:
            raise bad("dict(...) takes keyword arguments only")
        if fn != "dict" and (node.keywords or len(node.args) != 1):
            raise bad(f"{fn}(...) takes one positional argument")
        if fn == "dict":
            return {k.arg: _value(k.value, key, text) for k in node.keywords}
        return _CALLS[fn](_value(node.args[0], key, text))
    raise bad(f"{type(node).__name__} {ast.unparse(node)!r}")


def parse_expression(text: str, key: str = "value") -> Any:
    """The value of an RL Zoo hyperparameter string (``"dict(net_arch=[64], activation_fn=nn.ReLU)"``) without
    running code: literals, dict/list/tuple of literals and :data:`ALLOWED_NAMES` only. ``key`` names the entry
    in the error message."""
    if not isinstance(text, str):
        raise ValueError(f"{key}: expected an expression string, got {type(text).__name__} {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"{key}: {text!r} is not a valid expression ({exc.msg})") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"{key}: expression too deeply nested ({len(text)} characters)") from None
    return _value(tree.body, key, text)


# ============================================================================================ entries
def hyperparams_path(algo: str) -> Path:
    return HYPERPARAMS_DIR / f"{algo}.yml"


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> dict[str, Any]:
    """The RL Zoo entry for ``env_id`` in ``agents/hyperparams/<algo>.yml`` (or ``path``), as written."""
    algo = check_algo(algo)
    p = Path(path) if path is not None else hyperparams_path(algo)
    data = yaml.safe_load(p.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping of env id -> hyperparameters, got {type(data).__name__}")
    key = env_id.split(":", 1)[-1]
    if key in data:
        return copy.deepcopy(data[key])
    if "default" in data:
        return copy.deepcopy(data["default"])
    raise KeyError(f"no hyperparameters for {key!r} in {p} (keys: {sorted(data)})")


def missing_entries(algo: str, path: str | Path | None = None) -> list[str]:
    """Registered hetserve ids without their own entry in ``agents/hyperparams/<algo>.yml`` (or ``path``). RL Zoo
    needs one per id it trains: without it ``rl_zoo3.train`` stops, and a hand-written entry without ``policy``
    falls back to a stock MlpPolicy instead of :class:`agents.train.HetServePolicy`."""
    from hetserve_env.registration import ENV_IDS

    p = Path(path) if path is not None else hyperparams_path(check_algo(algo))
    data = yaml.safe_load(p.read_text()) or {}
    return [env_id for env_id in ENV_IDS if env_id not in data]


def check_algo(algo: str) -> str:
    a = str(algo).lower().replace("-", "_")
    a = {"maskableppo": "ppo_mask", "maskable_ppo": "ppo_mask"}.get(a, a)
    if a not in ALGOS:
        raise ValueError(f"algo must be one of {list(ALGOS)}, got {algo!r}")
    return a


def algo_class(algo: str):
    a = check_algo(algo)
    if a == "ppo_mask":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "a2c": sb3.A2C}[a]


def import_class(name: str, base: type, key: str) -> type:
    """The class ``module.Name`` from a YAML entry; it must be a subclass of ``base`` (not any callable)."""
    module, _, attr = str(name).rpartition(".")
    if not module:
        raise ValueError(f"{key}: expected a dotted class name such as agents.train.TemplateSubset, got {name!r}")
    obj = getattr(importlib.import_module(module), attr)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise ValueError(f"{key}: {name!r} is not a subclass of {base.__module__}.{base.__qualname__}")
    return obj


def schedule(value: Any) -> Any:
    """RL Zoo's ``lin_<v0>``: a linear schedule from v0 to 0; other values unchanged."""
    if isinstance(value, str) and value.startswith("lin_"):
        v0 = float(value.split("_", 1)[1])
        return lambda progress_remaining: progress_remaining * v0
    return value


def wrapper_spec(hp: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(class name, kwargs)`` of the YAML's ``env_wrapper`` (one wrapper) or None."""
    w = hp.get("env_wrapper")
    if w is None:
        return None
    if isinstance(w, list):
        if len(w) != 1:
            raise ValueError("one env_wrapper at most is supported")
        w = w[0]
    if isinstance(w, str):
        return w, {}
    if isinstance(w, dict) and len(w) == 1:
        name, kw = next(iter(w.items()))
        return name, dict(kw or {})
    raise ValueError(f"bad env_wrapper entry {w!r}")


def make_wrapper(spec: tuple[str, dict[str, Any]] | None) -> Callable | None:
    if spec is None:
        return None
    import gymnasium as gym

    cls = import_class(spec[0], gym.Wrapper, "env_wrapper")
    kw = dict(spec[1])
    return lambda env: cls(env, **kw)


__all__ = ["ALGOS", "ALLOWED_NAMES", "algo_class", "check_algo", "hyperparams_path", "import_class",
           "load_hyperparams", "make_wrapper", "missing_entries", "parse_expression", "schedule", "wrapper_spec"]
