"""Hybrid 3: hybrid 2 + reward and discount heads, acting by depth-D planning (CRAR)."""

from tf_metarl.agents.planning.agent import PlanningAgent
from tf_metarl.agents.planning.config import PlanningConfig
from tf_metarl.agents.planning.planner import plan_q_values
