"""agentplane: a Pulumi installer for an AI-agent platform on Kubernetes."""
