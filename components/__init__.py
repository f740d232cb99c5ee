"""Pulumi components: one ComponentResource per platform piece, each a thin shell over builders."""
