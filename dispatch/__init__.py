"""griddispatch service: cases, tickets, routing and the live feed, per domain package."""
