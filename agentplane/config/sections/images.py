"""Image digests the operator pins per environment (key `agentplane:images`).

The platform sets one image itself, Keycloak's (the other charts run their own pinned
defaults). A tag names whatever the registry serves under it today; a digest names exactly
one image. The policy pack's `images-pinned-by-digest` rejects a tag the program sets without
a digest, so the program sets the tag only together with a digest, and otherwise leaves the
chart's own image (its appVersion). In a protected environment `pulumi up` refuses to run
until the digest is configured. Digests are never guessed by this project: the operator reads
them from the registry (docs/operations.md, "Pinning images").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field

from agentplane.config.base import StrictModel

if TYPE_CHECKING:
    from agentplane.config.environment import EnvironmentConfig

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _digest(value: str) -> str:
    if not _DIGEST.match(value):
        raise ValueError(
            f"{value!r} is not an image digest: sha256: followed by 64 lowercase hex digits, as "
            "`crane digest <image>:<tag>` or `docker buildx imagetools inspect <image>:<tag>` prints it"
        )
    return value


Digest = Annotated[str, Field(strict=True), AfterValidator(_digest)]


class ImagesConfig(StrictModel):
    # quay.io/keycloak/keycloak at the version keycloakx 7.1.11 ships (KEYCLOAK_VERSION).
    keycloak: Digest | None = None
    """The digest (`sha256:<64 hex>`) of `quay.io/keycloak/keycloak:26.5.6`. Set: Keycloak runs by digest. Absent: the
    chart's own image by tag, which `pulumi up` refuses where `protect: true` ([pinning
    images](operations.md#pinning-images))."""


def missing_for_deploy(env: EnvironmentConfig) -> list[str]:
    """A protected environment runs no image the program chose by tag alone."""
    from agentplane.config.sections.identity import KEYCLOAK_IMAGE, KEYCLOAK_VERSION

    if env.protect and env.identity.managed and env.images.keycloak is None:
        return [
            f"keycloak is not set: a protected environment runs {KEYCLOAK_IMAGE}:{KEYCLOAK_VERSION} only by digest "
            "(pulumi config set --path 'agentplane:images.keycloak' sha256:<digest of "
            f"{KEYCLOAK_IMAGE}:{KEYCLOAK_VERSION}>)"
        ]
    return []


def check_environment(env: EnvironmentConfig) -> list[tuple[str, str]]:
    """A protected environment's Postgres image, when configured, is pinned by digest too."""
    image = env.identity.database.image_name
    if env.protect and env.identity.managed and image is not None and not re.search(r"@sha256:[0-9a-f]{64}$", image):
        return [
            (
                "identity.database.imageName",
                f"{image!r} names a tag only; a protected environment pins it by digest "
                "(<image>:<tag>@sha256:<digest>)",
            )
        ]
    return []
