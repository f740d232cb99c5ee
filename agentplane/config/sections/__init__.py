"""Per-piece environment and team-file settings; every key has a default."""
