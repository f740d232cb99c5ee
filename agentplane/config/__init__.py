"""Validated configuration: stack config + team files -> an immutable PlatformSpec."""
