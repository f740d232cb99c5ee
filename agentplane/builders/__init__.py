"""Pure builders: PlatformSpec -> plain dicts (Kubernetes objects, Helm values). No Pulumi, no I/O."""
