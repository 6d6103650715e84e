"""The env wrappers under the names the agents' YAML files, saved models and evaluation use.

The wrappers themselves live with the env, in :mod:`hetserve_env.wrappers`; this module re-exports them so that
``agents.wrappers.TemplateSubset`` (and ``agents.train.TemplateSubset``, the name in the hyperparameter files
and in ``agents/models/*.json``) keep resolving to the same classes.
"""

from __future__ import annotations

from hetserve_env.wrappers import CycleDays, TemplateSubset, candidate_templates, start_days

__all__ = ["CycleDays", "TemplateSubset", "candidate_templates", "start_days"]
