"""VariBAD hyper-parameters (DREAM's ``configs/varibad.json``): E-RL²'s plus the head
state embedder, the reward and next-state decoders and their loss weights."""

from __future__ import annotations

import dataclasses

from tf_metarl.config import check, check_layer_sizes
from tf_metarl.agents.e_rl2.config import ERL2Config


@dataclasses.dataclass(frozen=True)
class VariBADConfig(ERL2Config):
    """VariBAD as DREAM runs it: the LSTM output is the belief mean, z = mean + std * eps;
    decoders reconstruct every reward and next observation of the trial from every belief."""

    head_hidden: int = 64  # Linear [z; e'(o, g)] -> head_hidden, before the dueling head
    belief_std: float = 1e-6  # the fixed std of the belief (the paper: variance 1e-5)
    decoder_action_dim: int = 64  # action embedding of the decoder (num_actions rows)
    decoder_hidden: tuple[int, ...] = (128, 128)  # the decoder trunk (ReLU between and after)
    reward_loss_weight: float = 1.0  # weight of L_R
    state_loss_weight: float = 0.01  # weight of L_S
    # False: the TD loss reaches the encoder through z (the reference code); True: it does
    # not (the paper's description).
    varibad_stop_policy_grad: bool = False

    @classmethod
    def tiny_overrides(cls) -> dict:
        return {**super().tiny_overrides(), "head_hidden": 16, "decoder_action_dim": 8,
                "decoder_hidden": (16, 16)}

    def validate(self) -> None:
        super().validate()
        for name in ("head_hidden", "decoder_action_dim"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, f"agent.{name}={value!r}: expected an integer >= 1")
        check_layer_sizes(self, "decoder_hidden")
        check(self.belief_std >= 0, f"agent.belief_std={self.belief_std!r}: expected >= 0")
        for name in ("reward_loss_weight", "state_loss_weight"):
            value = getattr(self, name)
            check(value >= 0, f"agent.{name}={value!r}: expected >= 0")
        check(isinstance(self.varibad_stop_policy_grad, bool),
              f"agent.varibad_stop_policy_grad={self.varibad_stop_policy_grad!r}: expected true or false")
