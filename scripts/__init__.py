"""Maintenance scripts, run as modules from the repository root (``python -m scripts.graph_digest``,
``python -m scripts.config_schema yaml``)."""
