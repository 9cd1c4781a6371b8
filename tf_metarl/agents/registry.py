"""The algorithms ``launch/train.py --algorithm`` knows: name -> config and agent classes.

Reading it imports only the configs; ``Algorithm.agent_class`` imports the agent (and
TensorFlow) when first asked for, so flag checks and ``--help`` answer at once.
"""

from __future__ import annotations

import dataclasses
import importlib

from tf_metarl.agents.dream import DreamConfig
from tf_metarl.agents.e_rl2 import ERL2Config
from tf_metarl.agents.import_baseline import ImportConfig
from tf_metarl.agents.varibad import VariBADConfig
from tf_metarl.agents.gradient_embedder import GradientEmbedderConfig
from tf_metarl.agents.planning import PlanningConfig
from tf_metarl.agents.shared_representation import SharedRepresentationConfig


@dataclasses.dataclass(frozen=True)
class Algorithm:
    config_class: type
    agent_package: str
    agent_name: str

    @property
    def agent_class(self) -> type:
        """The agent class, imported (with TensorFlow) on first use."""
        return getattr(importlib.import_module(self.agent_package), self.agent_name)


ALGORITHMS: dict[str, Algorithm] = {
    "dream": Algorithm(DreamConfig, "tf_metarl.agents.dream", "DreamAgent"),
    "gradient_embedder": Algorithm(GradientEmbedderConfig, "tf_metarl.agents.gradient_embedder",
                                   "GradientEmbedderAgent"),
    "shared_representation": Algorithm(SharedRepresentationConfig,
                                       "tf_metarl.agents.shared_representation",
                                       "SharedRepresentationAgent"),
    "planning": Algorithm(PlanningConfig, "tf_metarl.agents.planning", "PlanningAgent"),
    # DREAM's baselines: one learner acting through whole trials.
    "e_rl2": Algorithm(ERL2Config, "tf_metarl.agents.e_rl2", "ERL2Agent"),
    "import": Algorithm(ImportConfig, "tf_metarl.agents.import_baseline", "ImportAgent"),
    "varibad": Algorithm(VariBADConfig, "tf_metarl.agents.varibad", "VariBADAgent"),
}
