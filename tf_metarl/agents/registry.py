"""The algorithms ``launch/train.py --algorithm`` knows: name -> config and agent classes."""

from __future__ import annotations

import dataclasses

from tf_metarl.agents.dream import DreamAgent, DreamConfig


@dataclasses.dataclass(frozen=True)
class Algorithm:
    config_class: type
    agent_class: type


ALGORITHMS: dict[str, Algorithm] = {
    "dream": Algorithm(DreamConfig, DreamAgent),
}
