"""Hybrid 3: hybrid 2 + reward and discount heads, acting by depth-D planning (CRAR)."""

from tf_metarl.agents import lazy_attributes
from tf_metarl.agents.planning.config import PlanningConfig

# The agent imports TensorFlow: on first use only.
__getattr__ = lazy_attributes(__name__, {"PlanningAgent": ".agent", "plan_q_values": ".planner"})
