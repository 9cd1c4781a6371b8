"""Meta-RL agents: DREAM and the model-based/model-free hybrids."""
