"""Secret keys and encryption at rest.

- **Keys.** ``secret_key(name)`` reads $BEAUTY_<NAME>_KEY (64 hex digits), else the key file
  ``<name>.key`` in ``key_dir()`` ($BEAUTY_KEY_DIR, else ~/.config/beauty-behaviour/keys), created
  on first use with random bytes and owner-only permissions. Key files never live inside the
  repository, where they could be committed. One key per use: "pseudonym", "encryption".
- **Encryption at rest.** ``encrypt_file`` writes ``<file>.enc`` with AES-GCM; ``read_bytes``
  returns a file's content whether it is encrypted or not, and a tampered, truncated or
  wrongly-keyed file raises ``DecryptionError`` naming it. ``plain_or_encrypted`` finds a file
  stored either way, so every loader reads both (docs/privacy.md: managing the keys).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from utils.core import config
from utils.core.files import atomic_path

KEY_BYTES = 32
MAGIC = b"BEAUTY-AESGCM-1\n"  # marks an encrypted file (and is authenticated with it)
NONCE_BYTES, TAG_BYTES = 12, 16


class DecryptionError(ValueError):
    """An encrypted file that cannot be read back: changed, cut short, or another key's."""


def key_dir() -> Path:
    return Path(os.environ.get("BEAUTY_KEY_DIR") or Path.home() / ".config" / "beauty-behaviour" / "keys")


def secret_key(name: str) -> bytes:
    """The 32-byte key ``name`` ("pseudonym", "encryption"): $BEAUTY_<NAME>_KEY as 64 hex digits,
    else the key file ``key_dir()/<name>.key``, created on first use (owner-only)."""
    variable = f"BEAUTY_{name.upper()}_KEY"
    if value := os.environ.get(variable):
        return _hex_key(value, f"${variable} must be {2 * KEY_BYTES} hex digits (a {KEY_BYTES}-byte key), "
                        "e.g. what `python -c 'import secrets; print(secrets.token_hex(32))'` prints")
    folder = key_dir().expanduser().resolve()
    if folder == config.PROJECT_ROOT or config.PROJECT_ROOT in folder.parents:
        raise ValueError(f"the key folder {folder} is inside the repository, where a key could be "
                         "committed; set $BEAUTY_KEY_DIR to a folder outside it")
    path = folder / f"{name}.key"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:  # O_EXCL: two processes starting at once cannot both write a key
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(handle, "w") as out:
                out.write(secrets.token_hex(KEY_BYTES) + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"the key file {path} can be read by other users (mode {mode:o}); "
                              f"`chmod 600 {path}` makes it the owner's only")
    return _hex_key(path.read_text(), f"the key file {path} does not hold {2 * KEY_BYTES} hex digits; "
                    "restore it from its backup (data written with the old key cannot be read without it)")


def _hex_key(text: str, error: str) -> bytes:
    """A KEY_BYTES-byte key written as hex digits, or ValueError(error)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError(error)
    return key


def encrypt_file(path: str | os.PathLike, key: bytes, remove_plain: bool = False) -> Path:
    """Write ``<path>.enc``: MAGIC, a random nonce, then the AES-GCM ciphertext and tag of the
    file's bytes. ``remove_plain`` deletes the plain file once the encrypted one is complete."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    path = Path(path)
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, path.read_bytes(), MAGIC)
    out = path.with_name(path.name + ".enc")
    with atomic_path(out) as tmp:
        Path(tmp).write_bytes(MAGIC + nonce + sealed)
    if remove_plain:
        path.unlink()
    return out


def read_bytes(path: str | os.PathLike, key: bytes | None = None) -> bytes:
    """The content of ``path``, decrypted when it is an encrypted file (``key`` defaults to
    ``secret_key("encryption")``); a plain file is returned as it is."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        if path.suffix == ".enc":
            raise DecryptionError(f"{path} does not start like an encrypted file of this project: it was "
                                  "changed, or written by another tool")
        return data
    body = data[len(MAGIC):]
    if len(body) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"{path} is cut short ({len(data)} bytes): copy it again from its source")
    try:
        return AESGCM(key or secret_key("encryption")).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], MAGIC)
    except InvalidTag:
        raise DecryptionError(f"{path} cannot be decrypted: it was changed or cut after it was encrypted, "
                              "or $BEAUTY_ENCRYPTION_KEY / the key file is not the key it was encrypted "
                              "with") from None
