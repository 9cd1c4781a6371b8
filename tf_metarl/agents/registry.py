"""The algorithms ``launch/train.py --algorithm`` knows: name -> config and agent classes."""

from __future__ import annotations

import dataclasses

from tf_metarl.agents.dream import DreamAgent, DreamConfig
from tf_metarl.agents.gradient_embedder import GradientEmbedderAgent, GradientEmbedderConfig
from tf_metarl.agents.planning import PlanningAgent, PlanningConfig
from tf_metarl.agents.shared_representation import SharedRepresentationAgent, SharedRepresentationConfig


@dataclasses.dataclass(frozen=True)
class Algorithm:
    config_class: type
    agent_class: type


ALGORITHMS: dict[str, Algorithm] = {
    "dream": Algorithm(DreamConfig, DreamAgent),
    "gradient_embedder": Algorithm(GradientEmbedderConfig, GradientEmbedderAgent),
    "shared_representation": Algorithm(SharedRepresentationConfig, SharedRepresentationAgent),
    "planning": Algorithm(PlanningConfig, PlanningAgent),
}
