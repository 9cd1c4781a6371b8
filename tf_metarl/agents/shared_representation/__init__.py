"""Hybrid 2: DREAM with a state representation shared with a dynamics model (CRAR losses)."""

from tf_metarl.agents.shared_representation.agent import SharedRepresentationAgent
from tf_metarl.agents.shared_representation.config import SharedRepresentationConfig
