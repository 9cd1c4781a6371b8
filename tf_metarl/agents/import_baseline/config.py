"""IMPORT hyper-parameters (DREAM's ``configs/import.json``): E-RL²'s plus the problem-id
encoder, the head state embedder and the auxiliary loss."""

from __future__ import annotations

import dataclasses

from tf_metarl.agents.e_rl2.config import ERL2Config
from tf_metarl.config import check


@dataclasses.dataclass(frozen=True)
class ImportConfig(ERL2Config):
    """IMPORT: one head on z, which is the history encoding g (history mode) or the
    problem-id embedding f(mu) (id mode); an auxiliary loss pulls g toward f."""

    problem_id_dim: int = 32  # Embedding(num_problems, problem_id_dim) -> Linear lstm_units = f(mu)
    head_hidden: int = 64  # Linear [z; e'(o, g)] -> head_hidden, before the dueling head
    import_aux_weight: float = 1.0  # beta of L_IMPORT
    # True: L_IMPORT sums over each trial's real steps; False: over every position up to the
    # batch's longest trial, padding included (the reference code).
    import_aux_mask_padding: bool = True
    # False: the target network always reads the history (the reference: its mode switch is
    # never copied); True: it reads f(mu) in id-mode updates too.
    import_target_uses_ids: bool = False

    @classmethod
    def tiny_overrides(cls) -> dict:
        return {**super().tiny_overrides(), "problem_id_dim": 8, "head_hidden": 16}

    def validate(self) -> None:
        super().validate()
        for name in ("problem_id_dim", "head_hidden"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 1, f"agent.{name}={value!r}: expected an integer >= 1")
        check(self.import_aux_weight >= 0, f"agent.import_aux_weight={self.import_aux_weight!r}: expected >= 0")
        for name in ("import_aux_mask_padding", "import_target_uses_ids"):
            value = getattr(self, name)
            check(isinstance(value, bool), f"agent.{name}={value!r}: expected true or false")
