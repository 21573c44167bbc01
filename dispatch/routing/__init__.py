"""Who is responsible for a case: responsibility rules and their longest-prefix lookup."""
