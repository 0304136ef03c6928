"""The masking rules of ``routegraph/core/redact.py``, one by one (survivors of the mutation
run: the secret-value rule's bounds, ``redact_url`` and a URL with a user but no password)."""

from __future__ import annotations

import pytest

from routegraph.core.redact import MASK, redact, redact_url, split_credentials


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("abcd-team-secret", True),  # sorts before "not-needed": still a secret
        ("zz-team-secret", True),
        ("wxyz", True),  # four characters: masked
        ("xyz", False),  # three: too short to tell from ordinary text
        ("not-needed", False),  # the placeholder routegraph itself sends
    ],
)
def test_a_secret_variables_value_is_masked_wherever_it_appears(
    monkeypatch: pytest.MonkeyPatch, value: str, masked: bool
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", value)
    text = f"request failed with key {value} at the gateway"
    assert (value not in redact(text)) is masked
    assert (MASK in redact(text)) is masked


def test_redact_url_masks_credentials_and_keeps_none() -> None:
    assert redact_url(None) is None
    assert redact_url("https://user:pw@example.com/v1") == f"https://{MASK}@example.com/v1"
    assert redact_url("http://127.0.0.1:8000/v1?api_key=abc") == (
        f"http://127.0.0.1:8000/v1?api_key={MASK}"
    )


def test_split_credentials_with_a_user_and_no_password() -> None:
    assert split_credentials("http://alice@example.com:8080/v1") == (
        "http://example.com:8080/v1", ("alice", "")
    )  # fmt: skip
    assert split_credentials("http://alice:s%40cret@[::1]:8080/v1") == (
        "http://[::1]:8080/v1", ("alice", "s@cret")
    )  # fmt: skip
    assert split_credentials("http://example.com/v1") == ("http://example.com/v1", None)
