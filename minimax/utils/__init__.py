"""Utilities every layer may use: input checks with clear errors, files that are never half-written."""
