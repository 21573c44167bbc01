"""Running griddispatch: child processes, the local multi-process stack."""
