"""The event log (global seq) and, later, the live feed."""
