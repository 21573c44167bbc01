"""Evaluation figures (绩效评价) per unit, area and event type, from the event log."""
