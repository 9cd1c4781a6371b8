"""Hybrid 1 (seed section 3.1): DREAM + a MAML dynamics model and a gradient embedder."""

from tf_metarl.agents.gradient_embedder.agent import GradientEmbedderAgent
from tf_metarl.agents.gradient_embedder.config import GradientEmbedderConfig
