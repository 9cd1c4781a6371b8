"""E-RL² (Stadie et al. 2018, as DREAM runs it): RL² whose exploration rewards are not optimized."""

from tf_metarl.agents import lazy_attributes
from tf_metarl.agents.e_rl2.config import ERL2Config

# The agent imports TensorFlow: on first use only.
__getattr__ = lazy_attributes(__name__, {"ERL2Agent": ".agent"})
