"""Your own model pool: one config file over the packaged catalog, clear errors at load time,
prices from the file or a maintained table, ``models --check``, and real endpoints in one graph.

The real-endpoint test starts three llama-cpp-python OpenAI-compatible servers (SmolLM2), each
with its own API key: two are pool members whose keys come from the variables the config names,
the third is given a wrong key and must be reported as an auth error, not as an answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from routegraph.app.cli import main as cli
from routegraph.core.catalog import load_catalog
from routegraph.core.errors import InvalidInputError
from routegraph.core.models import availability
from tests.conftest import CLOUD_ENV_VARS, Launcher, ServerProcess, executable, free_port


def pool(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routegraph.toml"
    path.write_text(text)
    return path


def load(path: Path) -> Any:
    return load_catalog(config=path)


# -- load-time errors, one line each naming the entry and the field --------------------------
@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ('[models.x]\nprovider = "openia"\nmodel = "m"\ninput_price = 0\noutput_price = 0\n',
         "models.x.provider", "'openia' is unknown"),
        ('[models.x]\nprovider = "openai"\nmodel = "m"\napi_key_env = "NOT_SET_ANYWHERE"\n'
         'input_price = 1\noutput_price = 1\n', "models.x.api_key_env",
         "NOT_SET_ANYWHERE is not set"),
        ('[models.x]\nprovider = "openai"\nmodel = "m"\napi_key_env = "sk-live-123"\n'
         'input_price = 1\noutput_price = 1\n', "models.x.api_key_env", "never in the file"),
        ('[models.x]\nprovider = "openai"\nmodel = "m"\ninput_price = -1\noutput_price = 1\n',
         "models.x.input_price", "-1 is invalid"),
        ('[models.x]\nprovider = "openai"\nmodel = "m"\ninput_price = 1\noutput_price = 1\n'
         '[models.x]\nprovider = "openai"\n', "catalog", "not valid TOML"),
        ('[models.a]\nprovider = "openai"\nmodel = "a"\ninput_price = 1\noutput_price = 1\n'
         'fallback = "b"\n[models.b]\nprovider = "openai"\nmodel = "b"\ninput_price = 1\n'
         'output_price = 1\nfallback = "a"\n', "fallback", "cycle a -> b -> a"),
        ('[models.x]\nprovider = "openai"\nmodel = "m"\ninput_price = 1\noutput_price = 1\n'
         'fallback = "nowhere"\n', "models.x.fallback", "'nowhere' is not in the catalog"),
        ('[models.x]\nprovider = "openai"\nmodel = "m"\ninput_price = 1\noutput_price = 1\n'
         'api_base = "http://x"\n', "models.x.api_base", "is not a model field"),
        ('[models.x]\nprovider = "openai"\nmodel = "m"\ninput_price = 1\noutput_price = 1\n'
         'api_key = "sk-123"\n', "models.x.api_key",
         "never written in the file; allowed: api_key_env"),
        ('[models.x]\nprovider = "openai"\nmodel = "my-own-finetune"\n', "models.x.input_price",
         "genai-prices"),
        ('[models.x]\nprovider = "openai"\nmodel = "m"\ninput_price = 1\noutput_price = 1\n'
         'base_url = "localhost:8000"\n', "models.x.base_url", "http(s)://"),
    ],
)  # fmt: skip
def test_a_bad_pool_is_refused_at_load_naming_entry_and_field(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load(pool(tmp_path, text))
    message = str(caught.value)
    assert field in message and words in message, message
    assert "\n" not in message


def test_entries_add_to_and_merge_over_the_packaged_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_TEST_KEY", "gsk-test")
    catalog = load(
        pool(
            tmp_path,
            """
[models.cloud]                       # only the endpoint changes; prices stay the packaged ones
base_url = "http://127.0.0.1:9/v1"

[models.mini]                        # no prices: from the price table
provider = "openai"
model = "gpt-4o-mini"
api_key_env = "GROQ_TEST_KEY"

[models.box]                         # a local endpoint: free unless stated
provider = "openai"
model = "qwen"
tier = "local"
base_url = "http://127.0.0.1:9/v1"
context_window = 8192

[models.claude]
provider = "anthropic"
model = "claude-sonnet-4-5"
input_price = 3
output_price = 15
""",
        )
    )
    packaged = load_catalog()
    cloud = catalog.get("cloud")
    assert cloud.base_url == "http://127.0.0.1:9/v1"
    assert (cloud.input_price, cloud.output_price) == (
        packaged.get("cloud").input_price, packaged.get("cloud").output_price)  # fmt: skip
    mini = catalog.get("mini")
    assert (mini.input_price, mini.output_price) == (0.15, 0.6)  # OpenAI's list price
    assert mini.price_source.startswith("genai-prices ")
    assert mini.api_key_env == "GROQ_TEST_KEY" and "gsk-test" not in repr(mini)
    box = catalog.get("box")
    assert (box.input_price, box.output_price, box.context_window) == (0.0, 0.0, 8192)
    assert set(packaged.names()) < set(catalog.names())
    ok, why = availability(catalog.get("claude"))  # langchain-anthropic is not installed here
    assert not ok and 'pip install "routegraph[anthropic]"' in why


def test_the_cli_reads_the_pool_from_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = pool(tmp_path, '[models.box]\nprovider = "openai"\nmodel = "qwen"\ntier = "local"\n'
                          'base_url = "http://127.0.0.1:9/v1"\n')  # fmt: skip
    assert cli(["--config", str(path), "models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows["box"]["available"] and rows["box"]["price_source"] == "local (no per-token fee)"
    os.environ.pop("ROUTEGRAPH_CONFIG", None)  # --config set it for the process


# -- real endpoints ------------------------------------------------------------------------------
def keyed_llama_server(launch: Launcher, gguf: Path, name: str, key: str) -> ServerProcess:
    """llama-cpp-python's OpenAI-compatible server that asks for ``key``."""
    port = free_port()
    argv = [sys.executable, "-m", "routegraph.core.providers.llama_server",
            "--model", str(gguf), "--model_alias", name, "--chat_format", "chatml",
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
            "--api_key", key]  # fmt: skip
    server = launch(name, argv, port=port)
    deadline = time.monotonic() + 120
    while True:
        try:
            reply = httpx.get(f"{server.url}/v1/models", timeout=5,
                              headers={"authorization": f"Bearer {key}"})  # fmt: skip
            if reply.status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.5)


@pytest.mark.slow
def test_three_endpoints_with_their_own_keys_in_one_pool(
    launch_server: Launcher, smollm2_gguf: Path, tmp_path: Path
) -> None:
    servers = {
        name: keyed_llama_server(launch_server, smollm2_gguf, name, f"key-of-{name}")
        for name in ("alpha", "beta", "gamma")
    }
    config = pool(tmp_path, "".join(
        f'[models.{name}]\nprovider = "openai"\nmodel = "{name}"\ntier = "cloud"\n'
        f'base_url = "{server.url}/v1"\napi_key_env = "{name.upper()}_KEY"\n'
        f"input_price = {price}\noutput_price = {2 * price}\ncontext_window = 2048\n\n"
        for (name, server), price in zip(servers.items(), (0.1, 1.0, 5.0), strict=True)
    ))  # fmt: skip
    env = {
        **{k: v for k, v in os.environ.items() if k not in CLOUD_ENV_VARS},
        "ALPHA_KEY": "key-of-alpha", "BETA_KEY": "key-of-beta", "GAMMA_KEY": "not-gammas-key",
        "ROUTEGRAPH_CONFIG": str(config), "LANGSMITH_TRACING": "false",
    }  # fmt: skip

    def routegraph(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([executable("routegraph"), *args], capture_output=True, text=True,
                              env=env, timeout=300)  # fmt: skip

    checked = routegraph("models", "--check", "--json")
    rows = {r["name"]: r for r in json.loads(checked.stdout)["models"]}
    assert rows["alpha"]["check"] == "reachable" and rows["beta"]["check"] == "reachable"
    assert rows["alpha"]["logprobs"] is True  # llama.cpp's server returns them
    assert rows["gamma"]["check"] == "auth error", rows["gamma"]
    assert "not-gammas-key" not in checked.stdout + checked.stderr

    # one routed request through two members: alpha answers first, the cascade escalates
    # to beta (confidence_threshold 1.0 accepts nothing short of certainty)
    asked = routegraph("ask", "What is the capital of France?", "--graph", "cascade",
                       "--set", 'models=["alpha","beta"]', "--set", "confidence_threshold=1.0",
                       "--set", "max_tokens=16", "--json")  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    trace = json.loads(asked.stdout)
    attempts = trace["attempts"]
    assert [a["model"] for a in attempts] == ["alpha", "beta"], trace
    assert all(a["source"] == "live" and a["answer"] for a in attempts), trace
    # priced at the config's prices: alpha $0.1 / $0.2, beta $1 / $2 per million tokens
    for attempt, price in zip(attempts, (0.1, 1.0), strict=True):
        expected = (attempt["input_tokens"] * price + attempt["output_tokens"] * 2 * price) / 1e6
        assert attempt["cost_usd"] == pytest.approx(expected)

    # the profile loop end to end: a trained cluster router (two recorded models) takes beta,
    # which answers 30 probe prompts live; its answers are graded by the file's gold numbers
    rows = []
    for i in range(40):
        a, b = i % 7 + 1, i % 5 + 2
        rows.append({"sample_id": f"p{i}", "eval_name": ("add", "mul")[i % 2],
                     "prompt": f"What is {a} {'+*'[i % 2]} {b}? Answer with one number.",
                     "reference": str(a + b if i % 2 == 0 else a * b),
                     "tiny": float(i % 2 == 0), "huge": 1.0,
                     "tiny|total_cost": 1e-6, "huge|total_cost": 1e-3})  # fmt: skip
    probes = tmp_path / "probes.csv"
    pd.DataFrame(rows).to_csv(probes, index=False)
    folder = tmp_path / "team"
    trained = routegraph("train", "cluster", "--data", str(probes), "--param", "k=2",
                         "--out", str(folder / "v0001"))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert routegraph("promote", str(folder), "v0001").returncode == 0
    profiled = routegraph("profile", "beta", "--router", str(folder), "--data", str(probes),
                          "--prompts", "30", "--max-tokens", "24", "--json")  # fmt: skip
    assert profiled.returncode == 0, profiled.stderr
    report = json.loads(profiled.stdout)
    assert report["source"] == "beta called live, graded by gold answers"
    assert report["probe_prompts"] == 30 and 0.0 <= report["mean_quality"] <= 1.0
    assert 0 < report["probe_cost_usd"] < 1e-3  # at beta's prices, $1 / $2 per million tokens
    assert routegraph("promote", str(folder)).returncode == 0
    routed = routegraph("route", "What is 3 + 4?", "--router", str(folder), "--json")
    assert routed.returncode == 0, routed.stderr
    assert "beta" in json.loads(routed.stdout)["scores"], routed.stdout
