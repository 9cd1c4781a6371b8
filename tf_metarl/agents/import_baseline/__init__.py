"""IMPORT (Kamienny et al. 2020, as DREAM runs it): a shared head on the history or on the problem id."""

from tf_metarl.agents import lazy_attributes
from tf_metarl.agents.import_baseline.config import ImportConfig

# The agent imports TensorFlow: on first use only.
__getattr__ = lazy_attributes(__name__, {"ImportAgent": ".agent"})
