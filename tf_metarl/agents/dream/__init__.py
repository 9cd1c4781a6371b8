"""DREAM (Liu et al. 2021): decoupled exploration and execution for meta-RL."""

from tf_metarl.agents import lazy_attributes
from tf_metarl.agents.dream.config import DreamConfig

__getattr__ = lazy_attributes(__name__, {"DreamAgent": ".agent"})  # the agent imports TensorFlow
