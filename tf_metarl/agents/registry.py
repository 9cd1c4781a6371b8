"""The algorithms ``launch/train.py --algorithm`` knows: name -> config and agent classes."""

from __future__ import annotations

import dataclasses

from tf_metarl.agents.dream import DreamAgent, DreamConfig
from tf_metarl.agents.gradient_embedder import GradientEmbedderAgent, GradientEmbedderConfig


@dataclasses.dataclass(frozen=True)
class Algorithm:
    config_class: type
    agent_class: type


ALGORITHMS: dict[str, Algorithm] = {
    "dream": Algorithm(DreamConfig, DreamAgent),
    "gradient_embedder": Algorithm(GradientEmbedderConfig, GradientEmbedderAgent),
}
