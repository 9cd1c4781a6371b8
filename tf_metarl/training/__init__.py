"""Training machinery shared by every agent: collection, schedules, runner, checkpoints."""
