"""Keep secrets out of everything routegraph writes: notes, attempts, logs, stream events.

Provider errors and configuration texts may carry an API key (``Incorrect API key provided:
sk-...``) or credentials in a base URL (``http://user:secret@host``). Every such text passes
through :func:`redact` before it lands in state, checkpoints, traces or CLI output.
"""

from __future__ import annotations

import os
import re

SECRET_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "ROUTEGRAPH_API_KEY",
)
"""Environment variables whose values are secrets wherever they appear."""
MASK = "***"

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/@\s]+@")
_KEY_LIKE = re.compile(r"\b(sk|pk|rk|lsv2|ghp|xox[abp])[-_][A-Za-z0-9_\-]{6,}")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:api[-_]?key|key|token|access_token|password)=)[^&\s]+")


def redact(text: str) -> str:
    """``text`` with URL credentials, key-shaped tokens and known secret values masked."""
    text = _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + MASK + "@", text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + " " + MASK, text)
    text = _KEY_LIKE.sub(lambda m: m.group(1) + "-" + MASK, text)
    for name in SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4 and value != "not-needed":
            text = text.replace(value, MASK)
    return text


def redact_url(url: str | None) -> str | None:
    """A base URL fit to show: credentials and secret query parameters masked."""
    return None if url is None else redact(url)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@`` part, and that pair (None when absent).

    A client given the bare URL and the pair as HTTP basic auth sends the same request, but
    neither its logs (httpx logs every request URL) nor a serialized model (what LangChain
    callbacks and tracers receive) then carries the password.
    """
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (unquote(parts.username or ""), unquote(parts.password or ""))
