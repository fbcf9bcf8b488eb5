"""Cloud function entry points and the monitor core."""
