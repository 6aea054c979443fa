"""Tasks: each ties a run config to its data sources and model, for ``rnnkit train TASK``."""
