"""The mention-monitor core: settings, secrets, X source, state and the run."""
