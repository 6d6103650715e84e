"""The policies the hyperparameter YAML files name (``agents.train.HetServePolicy``, ``…HetServeMaskablePolicy``).

SB3's actor-critic MLP policies with a vectorised MultiCategorical distribution (SB3 builds one
``torch.distributions.Categorical`` per action dimension, which dominates the run time with hundreds of
dimensions; this one works on one ``(batch, D, K)`` tensor and is otherwise the same distribution), and an
optional prior ``p_zero`` on the first value of every dimension (0 replicas / "remove"). The classes are built
on first use (importing this module does not import torch) and published by :mod:`agents.train` under the names
saved models refer to.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces


def fast_distribution_classes():
    """The vectorised MultiCategorical distributions (plain and maskable), built on first use."""
    import torch as th
    from sb3_contrib.common.maskable.distributions import MaskableMultiCategoricalDistribution
    from stable_baselines3.common.distributions import MultiCategoricalDistribution

    class FastMultiCategoricalDistribution(MultiCategoricalDistribution):
        """MultiCategorical over D sub-spaces of equal size K, on one (B, D, K) log-softmax tensor."""

        def __init__(self, action_dims: list[int]):
            super().__init__(action_dims)
            self.n_dims, self.n_vals = len(action_dims), int(action_dims[0])
            self.log_p: th.Tensor | None = None

        def proba_distribution(self, action_logits: th.Tensor):
            self.log_p = th.log_softmax(action_logits.view(-1, self.n_dims, self.n_vals), dim=-1)
            return self

        def log_prob(self, actions: th.Tensor) -> th.Tensor:
            return self.log_p.gather(-1, actions.view(-1, self.n_dims, 1).long()).squeeze(-1).sum(dim=1)

        def entropy(self) -> th.Tensor:
            return -(self.log_p.exp() * self.log_p).sum(dim=(1, 2))

        def sample(self) -> th.Tensor:
            u = th.rand_like(self.log_p).clamp_(1e-20, 1.0)
            return th.argmax(self.log_p - th.log(-th.log(u)), dim=-1)  # Gumbel-max

        def mode(self) -> th.Tensor:
            return th.argmax(self.log_p, dim=-1)

    class FastMaskableMultiCategoricalDistribution(MaskableMultiCategoricalDistribution):
        """The maskable variant: masked values get logit -1e8 (as sb3-contrib) and no entropy."""

        def __init__(self, action_dims: list[int]):
            super().__init__(action_dims)
            self.n_dims, self.n_vals = len(action_dims), int(action_dims[0])
            self.logits: th.Tensor | None = None
            self.masks: th.Tensor | None = None
            self.log_p: th.Tensor | None = None

        def proba_distribution(self, action_logits: th.Tensor):
            self.logits = action_logits.reshape(-1, self.n_dims, self.n_vals)
            self.masks = None
            self.log_p = th.log_softmax(self.logits, dim=-1)
            return self

        def apply_masking(self, masks) -> None:
            if masks is None:
                self.masks = None
                self.log_p = th.log_softmax(self.logits, dim=-1)
                return
            m = th.as_tensor(masks, dtype=th.bool, device=self.logits.device).reshape(self.logits.shape)
            self.masks = m
            self.log_p = th.log_softmax(th.where(m, self.logits, th.tensor(-1e8, dtype=self.logits.dtype,
                                                                                 device=self.logits.device)), dim=-1)

        def log_prob(self, actions: th.Tensor) -> th.Tensor:
            return self.log_p.gather(-1, actions.view(-1, self.n_dims, 1).long()).squeeze(-1).sum(dim=1)

        def entropy(self) -> th.Tensor:
            p_log_p = self.log_p.exp() * self.log_p
            if self.masks is not None:
                p_log_p = th.where(self.masks, p_log_p, th.zeros_like(p_log_p))
            return -p_log_p.sum(dim=(1, 2))

        def sample(self) -> th.Tensor:
            u = th.rand_like(self.log_p).clamp_(1e-20, 1.0)
            return th.argmax(self.log_p - th.log(-th.log(u)), dim=-1)

        def mode(self) -> th.Tensor:
            return th.argmax(self.log_p, dim=-1)

    return FastMultiCategoricalDistribution, FastMaskableMultiCategoricalDistribution


def _uniform_nvec(space: spaces.Space) -> list[int] | None:
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).ravel()
        if nvec.size and len(set(nvec.tolist())) == 1 and nvec[0] > 1:
            return [int(v) for v in nvec]
    return None


def _init_p_zero(policy, p_zero: float | None) -> None:
    """Bias the action head so every dimension starts with probability ``p_zero`` on its first value."""
    if not p_zero:
        return
    import torch as th

    nvec = _uniform_nvec(policy.action_space)
    if nvec is None:
        raise ValueError("p_zero needs a MultiDiscrete action space with equal sub-spaces")
    if not 0 < p_zero < 1:
        raise ValueError(f"p_zero must be in (0, 1), got {p_zero!r}")
    k = nvec[0]
    with th.no_grad():
        b = policy.action_net.bias.view(-1, k)
        b[:] = float(math.log((1 - p_zero) / (k - 1)))
        b[:, 0] = float(math.log(p_zero))
        policy.action_net.weight.mul_(0.01)


class _PriorPolicyMixin:
    """What both HetServe policies add to their SB3 base: the vectorised distribution and the ``p_zero`` prior.

    ``p_zero``: initial probability of value 0 in every action dimension (0 replicas in target mode,
    "remove one" in delta mode); None keeps SB3's initialisation (uniform). With hundreds of templates a
    uniform start asks for ~R_max/2 replicas of each, far over the budget; a sparse prior starts near the
    small fleets that are worth exploring. Torch-free, so it can live at module level.
    """

    _dist_class: type  # the Fast* distribution of the concrete policy

    def __init__(self, *args: Any, p_zero: float | None = None, **kwargs: Any) -> None:
        self.p_zero = p_zero
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule) -> None:
        nvec = _uniform_nvec(self.action_space)
        if nvec is not None:
            self.action_dist = self._dist_class(nvec)
        super()._build(lr_schedule)
        _init_p_zero(self, self.p_zero)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["p_zero"] = self.p_zero
        return data


def policy_classes():
    """``(HetServePolicy, HetServeMaskablePolicy)``, built on first use (imports torch and SB3)."""
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy

    Fast, FastMask = fast_distribution_classes()

    class HetServePolicy(_PriorPolicyMixin, ActorCriticPolicy):
        """SB3's ``MlpPolicy`` with a vectorised MultiCategorical and an optional ``p_zero`` prior."""

        _dist_class = Fast

    class HetServeMaskablePolicy(_PriorPolicyMixin, MaskableActorCriticPolicy):
        """sb3-contrib's maskable MLP policy with the vectorised distribution and ``p_zero`` prior."""

        _dist_class = FastMask

    return HetServePolicy, HetServeMaskablePolicy


__all__ = ["fast_distribution_classes", "policy_classes"]
