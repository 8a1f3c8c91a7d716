"""ruaj — the retained-data backend: command line, settings wiring and the local stack only."""
