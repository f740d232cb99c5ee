"""The Pulumi policy pack (see PulumiPolicy.yaml); `checks` holds its checks as plain functions."""
