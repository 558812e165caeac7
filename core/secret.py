"""The JWT signing secret shared by every local process."""

import os
import secrets
from pathlib import Path

from core.config import Settings

MIN_SECRET_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 10


class InsecureSecret(RuntimeError):
    """The signing secret is missing or too weak for production."""


def _create_secret_file(path: Path) -> None:
    """Write a fresh secret to `path` (0600) unless another process got there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(tmp, path)  # atomic: fails if the file already exists
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def is_weak(secret: str) -> bool:
    """Too short, or too few distinct characters to be random."""
    return len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < MIN_DISTINCT_CHARACTERS


def load_jwt_secret(settings: Settings, create: bool | None = None) -> str:
    """`JWT_SECRET` if set, else the secret file's content (created once, except in production)."""
    production = settings.environment == "production"
    if settings.jwt_secret:
        secret, source = settings.jwt_secret, "JWT_SECRET"
    else:
        path, source = settings.jwt_secret_file, str(settings.jwt_secret_file)
        if not path.exists() and (create if create is not None else not production):
            _create_secret_file(path)
        if not path.exists():
            raise InsecureSecret(f"no signing secret: set JWT_SECRET or run 'scripts/manage.py init' to create {path}")
        secret = path.read_text().strip()
    if production and is_weak(secret):
        raise InsecureSecret(
            f"signing secret from {source} is weak: use at least {MIN_SECRET_LENGTH} random characters"
        )
    return secret
