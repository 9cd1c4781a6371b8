"""Hybrid 2 (shared representation) hyper-parameters: DREAM's plus CRAR's model losses."""

from __future__ import annotations

import dataclasses

from tf_metarl.agents.dream.config import DreamConfig
from tf_metarl.config import check, check_layer_sizes


@dataclasses.dataclass(frozen=True)
class SharedRepresentationConfig(DreamConfig):
    """DREAM whose execution state encoder e(s) is also trained by a dynamics model in its space."""

    # Residual transition T(e, a, z) = e + MLP([e, onehot(a), z]) on the shared encoder.
    transition_hidden: tuple[int, ...] = (128, 128)  # ReLU hidden layers of the MLP
    transition_weight: float = 1.0  # beta_T: ||T(e(s_t), a_t, z) - e(s_{t+1})||^2
    # Disambiguation exp(-C ||e(s1) - e(s2)||_2) on pairs (batch, batch shifted by one).
    disambiguation_weight: float = 1.0  # beta_d
    disambiguation_scale: float = 5.0  # C (CRAR's value)
    consecutive_disambiguation_weight: float = 0.2  # the same term on (s_t, s_{t+1}), relative to beta_d
    volume_weight: float = 1.0  # max(||e(s)||_inf^2 - 1, 0) (CRAR's unit L_inf ball)
    # True: the transition loss also covers the batch's exploration transitions, conditioned
    # on f(their problem) + noise (seed Fig. 6-7: against the model's "confirmation bias").
    mix_exploration_transitions: bool = False

    @classmethod
    def tiny_overrides(cls) -> dict:
        return {**super().tiny_overrides(), "transition_hidden": (16,)}

    def validate(self) -> None:
        super().validate()
        check_layer_sizes(self, "transition_hidden")
        for name in ("transition_weight", "disambiguation_weight",
                     "consecutive_disambiguation_weight", "volume_weight"):
            value = getattr(self, name)
            check(value >= 0, f"agent.{name}={value!r}: expected >= 0")
        check(self.disambiguation_scale > 0,
              f"agent.disambiguation_scale={self.disambiguation_scale!r}: expected > 0")
