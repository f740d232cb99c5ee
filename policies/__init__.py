"""Admission policies (Kyverno `policies.kyverno.io/v1`, rendered from YAML templates) and the
Pulumi policy pack that checks the program's own resources at `pulumi preview` time."""
