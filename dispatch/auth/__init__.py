"""Authentication (bearer tokens, Argon2) and per-object permission checks."""
