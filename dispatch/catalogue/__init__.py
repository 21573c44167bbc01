"""Reference data loaded from grid_data: areas, cells, event types."""
