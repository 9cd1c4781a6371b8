"""DREAM (Liu et al. 2021): decoupled exploration and execution for meta-RL."""

from tf_metarl.agents.dream.agent import DreamAgent
from tf_metarl.agents.dream.config import DreamConfig
