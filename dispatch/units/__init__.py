"""Enforcement units, their teams and members."""
