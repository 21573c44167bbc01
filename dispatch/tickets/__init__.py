"""Tickets per unit, their state machine, deadlines and escalation."""
