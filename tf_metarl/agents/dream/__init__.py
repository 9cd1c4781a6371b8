"""DREAM (Liu et al. 2021): decoupled exploration and execution for meta-RL."""

from tf_metarl.agents import lazy_attributes
from tf_metarl.agents.dream.config import DreamConfig

# The agent imports TensorFlow: on first use only.
__getattr__ = lazy_attributes(__name__, {"DreamAgent": ".agent"})
