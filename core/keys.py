"""Signing and verification keys: one shared HMAC secret, or asymmetric keys named by `kid` for rotation."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from core.config import Settings
from core.secret import InsecureSecret, load_jwt_secret

ASYMMETRIC = {"RS256": rsa.RSAPublicKey, "EdDSA": ed25519.Ed25519PublicKey}
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class KeyRing:
    """The key this process signs with (None: verify only) and every key it accepts, by key id."""

    algorithm: str
    signing_key: Any | None
    signing_kid: str | None
    verify_keys: dict[str | None, Any] = field(repr=False)
    # Tokens whose signature and claims were already verified with these keys, for the time checks only.
    verified: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    def verification_key(self, token: str) -> Any:
        """The key for this token's `kid`; InvalidTokenError if it names none we accept."""
        kid = jwt.get_unverified_header(token).get("kid")
        if self.algorithm not in ASYMMETRIC:
            return self.verify_keys[None]
        if not isinstance(kid, str) or kid not in self.verify_keys:
            raise jwt.InvalidTokenError("unknown key id")
        return self.verify_keys[kid]

    @property
    def key_ids(self) -> list[str]:
        """The key ids accepted (none for a shared secret)."""
        return sorted(kid for kid in self.verify_keys if kid)


def _load_public(path: Path, algorithm: str) -> Any:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, ASYMMETRIC[algorithm]):
        raise InsecureSecret(f"{path}: not a key for {algorithm}")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise InsecureSecret(f"{path}: RSA keys need at least {MIN_RSA_BITS} bits")
    return key


def load_keyring(settings: Settings) -> KeyRing:
    """Keys for `JWT_ALGORITHM`: the shared secret for HS*, else PEM files for RS256/EdDSA."""
    algorithm = settings.jwt_algorithm
    if algorithm not in ASYMMETRIC:
        secret = load_jwt_secret(settings)
        return KeyRing(algorithm, secret, None, {None: secret})
    verify = {path.stem: _load_public(path, algorithm) for path in sorted(settings.jwt_public_keys_dir.glob("*.pem"))}
    signing_key = signing_kid = None
    if settings.jwt_private_key_file:
        signing_key = serialization.load_pem_private_key(settings.jwt_private_key_file.read_bytes(), password=None)
        signing_kid = settings.jwt_key_id or settings.jwt_private_key_file.stem
        public = signing_key.public_key()
        if not isinstance(public, ASYMMETRIC[algorithm]):
            raise InsecureSecret(f"{settings.jwt_private_key_file}: not a key for {algorithm}")
        verify.setdefault(signing_kid, public)
    if not verify:
        raise InsecureSecret(f"no public keys for {algorithm} in {settings.jwt_public_keys_dir}")
    return KeyRing(algorithm, signing_key, signing_kid, verify)


def generate_key_pair(algorithm: str, kid: str, private_dir: Path, public_dir: Path) -> tuple[Path, Path]:
    """Write a new key pair: the private key (0600) and its public key named `<kid>.pem`."""
    key = ed25519.Ed25519PrivateKey.generate() if algorithm == "EdDSA" else rsa.generate_private_key(65537, 3072)
    private_dir.mkdir(parents=True, exist_ok=True)
    public_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = private_dir / f"{kid}.pem", public_dir / f"{kid}.pem"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path
