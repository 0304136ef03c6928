"""API keys for a team's gateway: who may call, what each caller may set, what it may spend.

Two sources, as a proxy's users expect:

- ``ROUTEGRAPH_API_KEYS``: comma-separated keys, the simple case. Each gets full rights within
  the server's own limits; the keys are hashed when read and the plain text is not kept.
- a keys file (``ROUTEGRAPH_KEYS_FILE``, ``serve --keys``), written by ``routegraph keys create``:
  JSON holding, per key, its id, name, SHA-256 hash (never the key), the graphs and models it may
  use, its ceilings on per-request settings, its total budget and its requests per minute.
  ``keys revoke`` marks an entry revoked; a running server re-reads the file when it changes,
  so a revocation takes effect on the next request.

Keys are random 256-bit tokens, so one SHA-256 pass is the right hash (a slow password hash
guards low-entropy secrets, and would cost every request milliseconds).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from routegraph.core.errors import InvalidInputError

KEYS_VARIABLE = "ROUTEGRAPH_API_KEYS"
KEYS_FILE_VARIABLE = "ROUTEGRAPH_KEYS_FILE"
KEY_PREFIX = "rg-"
RELOAD_EVERY_S = 1.0
"""How often a server looks whether its keys file changed (a revocation applies within it)."""
LIMIT_FIELDS = (
    "max_tokens",
    "samples",
    "max_steps",
    "budget_usd",
    "max_rounds",
    "max_subtasks",
    "max_input_tokens",
    "call_timeout_s",
)
"""Per-request settings a key may be given a ceiling for (a request may go lower, never higher)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class ApiKey:
    """One caller's rights; ``None`` for graphs/models means every one the server serves."""

    id: str
    name: str
    hash: str
    created: str = ""
    revoked: bool = False
    graphs: list[str] | None = None
    models: list[str] | None = None
    limits: dict[str, float] = field(default_factory=dict)
    budget_usd: float | None = None
    """Total spend allowed over the key's life (None: no total cap)."""
    requests_per_minute: int | None = None
    admin: bool = False
    """May read the dashboard (every key's spend and requests)."""

    def public(self) -> dict[str, Any]:
        """What ``keys list`` shows: everything but the hash."""
        out = asdict(self)
        out.pop("hash")
        return out


def env_keys(raw: str) -> list[ApiKey]:
    """Keys from ``ROUTEGRAPH_API_KEYS`` (comma-separated), hashed; ids from the hash."""
    keys = []
    for part in raw.split(","):
        key = part.strip()
        if key:
            digest = hash_key(key)
            keys.append(ApiKey(id=f"env-{digest[:8]}", name="env", hash=digest))
    return keys


def _check_entry(entry: Any, where: str) -> ApiKey:
    if not isinstance(entry, dict):
        raise InvalidInputError(where, "is not an object", "an entry written by routegraph keys")
    try:
        key = ApiKey(**entry)
    except TypeError as exc:
        raise InvalidInputError(where, str(exc), "id, name, hash and optional rights") from None
    if not isinstance(key.hash, str) or len(key.hash) != 64:
        raise InvalidInputError(f"{where}.hash", "is not a SHA-256 hex digest", "64 hex digits")
    for name in key.limits:
        if name not in LIMIT_FIELDS:
            raise InvalidInputError(f"{where}.limits", f"unknown limit {name!r}", LIMIT_FIELDS)
    return key


def read_keys_file(path: Path) -> list[ApiKey]:
    """The entries of a keys file; a missing file is an empty one."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidInputError(str(path), f"is not valid JSON ({exc})", "a keys file") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise InvalidInputError(str(path), "has no 'keys' list", "a file from routegraph keys")
    return [_check_entry(e, f"{path.name}: keys[{i}]") for i, e in enumerate(entries)]


def write_keys_file(path: Path, keys: list[ApiKey]) -> None:
    """Atomically (temporary file, then rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"keys": [asdict(k) for k in keys]}, indent=2) + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def create_key(
    path: Path,
    name: str,
    *,
    graphs: list[str] | None = None,
    models: list[str] | None = None,
    limits: dict[str, float] | None = None,
    budget_usd: float | None = None,
    requests_per_minute: int | None = None,
    admin: bool = False,
) -> tuple[str, ApiKey]:
    """Add a key to ``path``; returns (the key, shown once; its entry)."""
    if not name.strip():
        raise InvalidInputError("name", "is empty", "a label for whom the key is for")
    for field_name, value in (limits or {}).items():
        if field_name not in LIMIT_FIELDS:
            raise InvalidInputError("--limit", f"unknown limit {field_name!r}", LIMIT_FIELDS)
        if not value > 0:
            raise InvalidInputError(f"--limit {field_name}", f"{value} is not > 0", "a number > 0")
    if budget_usd is not None and not budget_usd >= 0:
        raise InvalidInputError("--budget-usd", f"{budget_usd}", "a number >= 0")
    if requests_per_minute is not None and requests_per_minute < 1:
        raise InvalidInputError("--rpm", f"{requests_per_minute}", "an integer >= 1")
    keys = read_keys_file(path)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    entry = ApiKey(
        id=f"key-{secrets.token_hex(4)}",
        name=name,
        hash=hash_key(secret),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        graphs=graphs,
        models=models,
        limits=dict(limits or {}),
        budget_usd=budget_usd,
        requests_per_minute=requests_per_minute,
        admin=admin,
    )
    write_keys_file(path, [*keys, entry])
    return secret, entry


def revoke_key(path: Path, key_id: str) -> ApiKey:
    keys = read_keys_file(path)
    for key in keys:
        if key.id == key_id:
            key.revoked = True
            write_keys_file(path, keys)
            return key
    known = [k.id for k in keys] or "none"
    raise InvalidInputError("KEY_ID", f"no key {key_id!r} in {path}", known)


class KeyRing:
    """The keys a server accepts: the environment's and the keys file's, the file re-read
    whenever it changes (a revocation needs no restart)."""

    def __init__(self, file: str | Path | None = None, env: str | None = None):
        self.file = Path(file).expanduser() if file else None
        self._env = env_keys(env or "")
        self._stamp: tuple[float, int] | None = None
        self._checked = time.monotonic()
        self._loaded = False
        self._by_hash: dict[str, ApiKey] = {}
        self._reload()

    @classmethod
    def from_environment(cls, file: str | Path | None = None) -> KeyRing:
        file = file or os.environ.get(KEYS_FILE_VARIABLE) or None
        return cls(file, os.environ.get(KEYS_VARIABLE))

    def _reload(self) -> None:
        stamp = None
        if self.file is not None and self.file.is_file():
            stat = self.file.stat()
            stamp = (stat.st_mtime, stat.st_size)
        if self._loaded and stamp == self._stamp:
            return
        entries = [*self._env, *(read_keys_file(self.file) if self.file else [])]
        self._by_hash = {k.hash: k for k in entries if not k.revoked}
        self._stamp = stamp
        self._loaded = True

    @property
    def enabled(self) -> bool:
        """Whether the server asks for keys at all (any key configured, or a keys file named)."""
        return bool(self._env) or self.file is not None

    def verify(self, authorization: str | None) -> ApiKey | None:
        """The key an ``Authorization: Bearer ...`` header carries, or None if it is no valid
        (unrevoked) key."""
        self._reload()
        return self._lookup(authorization)

    def _lookup(self, authorization: str | None) -> ApiKey | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._by_hash.get(hash_key(token.strip()))

    async def averify(self, authorization: str | None) -> ApiKey | None:
        """:meth:`verify` for an event loop: the keys file is looked at (a ``stat``, and a read
        when it changed) in a worker thread, at most once a second."""
        now = time.monotonic()
        if self.file is not None and now - self._checked >= RELOAD_EVERY_S:
            self._checked = now
            await asyncio.to_thread(self._reload)
        return self._lookup(authorization)  # touches no file
