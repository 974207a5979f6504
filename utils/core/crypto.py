"""Secret keys and encryption at rest.

- **Keys.** ``secret_key(name)`` reads $BEAUTY_<NAME>_KEY (64 hex digits), else the key file
  ``<name>.key`` in ``key_dir()`` ($BEAUTY_KEY_DIR, else ~/.config/beauty-behaviour/keys), created
  on first use with random bytes and owner-only permissions. Key files never live inside the
  repository, where they could be committed. One key per use: "pseudonym", "encryption".
- **Encryption at rest.** ``encrypt_file`` writes ``<file>.enc`` with AES-GCM; ``read_bytes``
  returns a file's content whether it is encrypted or not, and a tampered, truncated or
  wrongly-keyed file raises ``DecryptionError`` naming it. ``plain_or_encrypted`` finds a file
  stored either way and ``for_reading`` hands it to a reader, so every loader reads both
  (docs/privacy.md: managing the keys).
"""

from __future__ import annotations

import io
import os
import secrets
import stat
from pathlib import Path

from utils.core.files import atomic_path

KEY_BYTES = 32
ENCRYPTED_SUFFIX = ".enc"
# The repository, where no key file may live. Computed here rather than taken from
# utils.core.config, which reads tables through this module and so cannot be imported by it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
MAGIC = b"BEAUTY-AESGCM-1\n"  # marks an encrypted file (and is authenticated with it)
NONCE_BYTES, TAG_BYTES = 12, 16


class DecryptionError(ValueError):
    """An encrypted file that cannot be read back: changed, cut short, or another key's."""


def key_dir() -> Path:
    return Path(os.environ.get("BEAUTY_KEY_DIR") or Path.home() / ".config" / "beauty-behaviour" / "keys")


def key_origin(name: str) -> str:
    """Where ``secret_key(name)`` takes the key from: $BEAUTY_<NAME>_KEY or the key file's path."""
    variable = f"BEAUTY_{name.upper()}_KEY"
    return f"${variable}" if os.environ.get(variable) else str(key_dir().expanduser() / f"{name}.key")


def secret_key(name: str, create: bool = True) -> bytes:
    """The 32-byte key ``name`` ("pseudonym", "encryption"): $BEAUTY_<NAME>_KEY as 64 hex digits,
    else the key file ``key_dir()/<name>.key``, created on first use (owner-only) unless
    ``create`` is False: a new key cannot read what an earlier one wrote."""
    variable = f"BEAUTY_{name.upper()}_KEY"
    if value := os.environ.get(variable):
        return _hex_key(value, f"${variable} must be {2 * KEY_BYTES} hex digits (a {KEY_BYTES}-byte key), "
                        "e.g. what `python -c 'import secrets; print(secrets.token_hex(32))'` prints")
    folder = key_dir().expanduser().resolve()
    if folder == PROJECT_ROOT or PROJECT_ROOT in folder.parents:
        raise ValueError(f"the key folder {folder} is inside the repository, where a key could be "
                         "committed; set $BEAUTY_KEY_DIR to a folder outside it")
    path = folder / f"{name}.key"
    if not path.is_file() and not create:
        raise FileNotFoundError(f"there is no {name} key: ${variable} is not set and the key file "
                                f"{path} does not exist. Restore the key file from its backup or "
                                f"set ${variable} (docs/privacy.md)")
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


def is_encrypted(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like an encrypted file, ``<file>.enc``."""
    return Path(path).name.endswith(ENCRYPTED_SUFFIX)


def plain_or_encrypted(path: str | os.PathLike) -> Path | None:
    """The file ``path`` if it exists, else its encrypted form ``<path>.enc`` if that exists, else
    None. The plain file wins when both exist: a step that rewrote it after encryption made it
    the newer one."""
    path = Path(path)
    encrypted = path.with_name(path.name + ENCRYPTED_SUFFIX)
    return next((p for p in (path, encrypted) if p.is_file()), None)


def for_reading(path: str | os.PathLike, key: bytes | None = None) -> Path | io.BytesIO:
    """``path``, stored plain or encrypted (see plain_or_encrypted), in a form that pandas, Arrow,
    gzip, lzma, bz2 and zipfile all read: a plain file's path, which they stream from disk, or an
    encrypted file's content decrypted into memory. AES-GCM checks a whole file before it gives
    out a byte, so an encrypted file costs its size in memory (twice that while decrypting)."""
    found = plain_or_encrypted(path)
    if found is None:
        raise FileNotFoundError(f"{path} does not exist, nor does {path}{ENCRYPTED_SUFFIX}")
    return io.BytesIO(read_bytes(found, key)) if is_encrypted(found) else found


def encrypt_file(path: str | os.PathLike, key: bytes, remove_plain: bool = False) -> Path:
    """Write ``<path>.enc``: MAGIC, a random nonce, then the AES-GCM ciphertext and tag of the
    file's bytes. ``remove_plain`` deletes the plain file once the encrypted one is complete."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    path = Path(path)
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, path.read_bytes(), MAGIC)
    out = path.with_name(path.name + ENCRYPTED_SUFFIX)
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        for part in (MAGIC, nonce, sealed):  # written in parts: no third copy of a large file
            handle.write(part)
    if remove_plain:
        path.unlink()
    return out


def decrypt_file(path: str | os.PathLike, key: bytes | None = None) -> Path:
    """Write the plain file of the encrypted ``path`` (``<file>.enc`` -> ``<file>``), then delete
    ``path``; raises DecryptionError, and changes nothing, when it cannot be read back."""
    path = Path(path)
    if not is_encrypted(path):
        raise ValueError(f"{path} is not named like an encrypted file (<file>{ENCRYPTED_SUFFIX})")
    plain = path.with_name(path.name.removesuffix(ENCRYPTED_SUFFIX))
    content = read_bytes(path, key)
    with atomic_path(plain) as tmp:
        tmp.write_bytes(content)
    path.unlink()
    return plain


def read_bytes(path: str | os.PathLike, key: bytes | None = None) -> bytes:
    """The content of ``path``, decrypted when it is an encrypted file (``key`` defaults to
    ``secret_key("encryption")``, which is never made anew here); a plain file is returned as it
    is. Memory: the file's size, and as much again for the decrypted content."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        if is_encrypted(path):
            raise DecryptionError(f"{path} does not start like an encrypted file of this project: it was "
                                  "changed, or written by another tool")
        return data
    body = memoryview(data)[len(MAGIC):]  # a view: a large file is not copied again
    if len(body) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"{path} is cut short ({len(data)} bytes): copy it again from its source")
    if key is None:
        try:  # never a new key: it could not read what an earlier one wrote
            key = secret_key("encryption", create=False)
        except FileNotFoundError as exc:
            raise DecryptionError(f"{path} is encrypted, but {exc}") from None
    try:
        return AESGCM(key).decrypt(bytes(body[:NONCE_BYTES]), body[NONCE_BYTES:], MAGIC)
    except InvalidTag:
        raise DecryptionError(f"{path} cannot be decrypted: it was changed or cut after it was encrypted, "
                              "or $BEAUTY_ENCRYPTION_KEY / the key file is not the key it was encrypted "
                              "with") from None
