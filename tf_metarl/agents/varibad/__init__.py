"""VariBAD (Zintgraf et al. 2020, as DREAM runs it): a recurrent belief trained to reconstruct the trial."""

from tf_metarl.agents import lazy_attributes
from tf_metarl.agents.varibad.config import VariBADConfig

# The agent imports TensorFlow: on first use only.
__getattr__ = lazy_attributes(__name__, {"VariBADAgent": ".agent"})
