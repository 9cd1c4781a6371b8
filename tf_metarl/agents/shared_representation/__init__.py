"""Hybrid 2: DREAM with a state representation shared with a dynamics model (CRAR losses)."""

from tf_metarl.agents import lazy_attributes
from tf_metarl.agents.shared_representation.config import SharedRepresentationConfig

# The agent imports TensorFlow: on first use only.
__getattr__ = lazy_attributes(__name__, {"SharedRepresentationAgent": ".agent"})
