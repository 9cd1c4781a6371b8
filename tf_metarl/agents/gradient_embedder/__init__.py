"""Hybrid 1 (seed section 3.1): DREAM + a MAML dynamics model and a gradient embedder."""

from tf_metarl.agents import lazy_attributes
from tf_metarl.agents.gradient_embedder.config import GradientEmbedderConfig

# The agent imports TensorFlow: on first use only.
__getattr__ = lazy_attributes(__name__, {"GradientEmbedderAgent": ".agent"})
