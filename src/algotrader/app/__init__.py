"""Use cases with typed inputs and results, shared by every front end (CLI, dashboard)."""
