"""Hybrid 3 (shared representation + value prediction, CRAR-style planning) hyper-parameters."""

from __future__ import annotations

import dataclasses

from tf_metarl.agents.shared_representation.config import SharedRepresentationConfig
from tf_metarl.config import check, check_layer_sizes

PLANNING_SPACES = ("latent", "raw")
# How the planner turns its depth-0..D values into one: their mean (CRAR) or Q^D alone.
ESTIMATES = ("average", "deepest")


@dataclasses.dataclass(frozen=True)
class PlanningConfig(SharedRepresentationConfig):
    """Hybrid 2 + reward and discount heads, and execution actions chosen by planning."""

    # Reward r(x, a, z, goal) and discount g(x, a, z, goal) heads (squared-error losses
    # against the execution rewards and (1 - terminal) * discount).
    value_head_hidden: tuple[int, ...] = (128,)  # ReLU hidden layers of each head
    reward_weight: float = 1.0
    discount_weight: float = 1.0

    # Planning: Q^d(x, a) = r + g * max over the top-b actions of Q^{d-1}(T(x, a), .).
    planning_depth: int = 2  # D in {0, 1, 2, 3}; 0 acts on the plain Q-values
    planning_breadth: int = 2  # b: actions expanded below the root (the root expands all)
    planning_estimate: str = "average"  # 'average' of Q^0..Q^D (CRAR) or 'deepest' (Q^D)
    plan_in_training: bool = True  # False: meta-training trials act on plain Q, tests plan
    # 'latent': plan in the shared embedding (T, r, g act on e(s)); 'raw': plan on raw
    # observations: a separate model predicts the next observation field by field (its most
    # likely value is then encoded by e), and r, g read the one-hot observation.
    planning_space: str = "latent"

    @classmethod
    def tiny_overrides(cls) -> dict:
        return {**super().tiny_overrides(), "value_head_hidden": (16,)}

    def validate(self) -> None:
        super().validate()
        check_layer_sizes(self, "value_head_hidden")
        for name in ("reward_weight", "discount_weight"):
            value = getattr(self, name)
            check(value >= 0, f"agent.{name}={value!r}: expected >= 0")
        check(isinstance(self.planning_depth, int) and 0 <= self.planning_depth <= 3,
              f"agent.planning_depth={self.planning_depth!r}: expected 0, 1, 2 or 3")
        check(isinstance(self.planning_breadth, int) and self.planning_breadth >= 1,
              f"agent.planning_breadth={self.planning_breadth!r}: expected an integer >= 1")
        check(self.planning_estimate in ESTIMATES,
              f"agent.planning_estimate={self.planning_estimate!r}: expected one of {list(ESTIMATES)}")
        check(self.planning_space in PLANNING_SPACES,
              f"agent.planning_space={self.planning_space!r}: expected one of {list(PLANNING_SPACES)}")
