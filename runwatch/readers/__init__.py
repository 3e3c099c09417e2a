"""Readers: tolerant, fast access to the files runs write (JSON, scores, logs, epoch dirs)."""
