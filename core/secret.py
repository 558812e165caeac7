"""The JWT signing secret shared by every local process."""

import os
import secrets
from pathlib import Path

from core.config import Settings

MIN_SECRET_LENGTH = 32


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


def load_jwt_secret(settings: Settings) -> str:
    """Return `JWT_SECRET` if set, else the secret file's content, creating it once."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.jwt_secret_file
    if not path.exists():
        _create_secret_file(path)
    return path.read_text().strip()
