"""Reports in, cases, duplicate linking, verification."""
