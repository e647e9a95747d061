"""Use cases with typed inputs and results, called by the front ends (cli, dashboard, services)."""
