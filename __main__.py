"""Pulumi entry point: `pulumi up` / `pulumi preview` run this file."""

from agentplane.program import main

main()
