"""A study file naming an embedded, an Ollama-protocol and an OpenAI-compatible model, run end to end
through the CLI over loopback (the Ollama stand-in is explained in servers.py)."""

import json
import sqlite3
import subprocess
import sys

import pytest

from conftest import fenced
from servers import FaultyServer, OllamaStandIn


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.model
def test_three_backends_in_one_study(tmp_path):
    ollama = OllamaStandIn(reply=fenced("print(22)"))
    compatible = FaultyServer([("status", 503, [("Retry-After", "0")])], reply=fenced("print(3 * 5 + 7)"))
    study = tmp_path / "study.toml"
    study.write_text(f"""
[study]
name = "three"
dataset = "sample"
limit = 2
attempts = 2
directory = "out"

[[models]]
spec = "embedded"
max_tokens = 200

[[models]]
spec = "ollama/llama3.1:8b"
base_url = "{ollama.url}"

[[models]]
spec = "openai-compatible/stand-in"
base_url = "{compatible.url}"
concurrency = 2
""")
    try:
        r = cli("study", str(study))
        assert r.returncode == 0, r.stderr
        dbs = sorted((tmp_path / "out").glob("*.sqlite"))
        assert [db.name for db in dbs] == [
            "three-embedded.sqlite",
            "three-ollama-llama3.1-8b.sqlite",
            "three-openai-compatible-stand-in.sqlite",
        ]
        for db in dbs:
            conn = sqlite3.connect(db)
            assert conn.execute("SELECT count(*) FROM grades WHERE grader = 'final'").fetchone() == (2,)
            config, recorded = (json.loads(v) for v in conn.execute("SELECT config, recorded FROM run").fetchone())
            assert recorded["study"] == study.read_text() and config["limit"] == 2
        assert "Models compared" in r.stdout and "ollama/llama3.1:8b" in r.stdout
        assert ollama.requests and compatible.requests

        requests = len(ollama.requests) + len(compatible.requests)
        again = cli("study", str(study))  # everything finished: nothing is asked again
        assert again.returncode == 0 and len(ollama.requests) + len(compatible.requests) == requests

        both = json.loads(cli("report", str(dbs[1]), str(dbs[2]), "--json").stdout)
        assert [s["model"] for s in both["runs"]] == ["ollama/llama3.1:8b", "openai-compatible/stand-in"]
        assert both["paired"][0]["n"] == 2
    finally:
        ollama.stop()
        compatible.stop()


def test_study_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    for text, message in [
        ("[study\n", "not valid TOML"),
        ("[study]\nname = 'x'\n", "at least one [[models]] entry"),
        ("[[models]]\nspec = 'embedded'\nsurprise = 1\n", "models[0].surprise: unknown setting"),
        ("[[models]]\nspec = 'embedded'\nattempts = 3\n", "models[0].attempts: set it in [study]"),
        ("[study]\nattempts = 0\n[[models]]\nspec = 'embedded'\n", "[study].attempts: Input should be greater"),
        ("[study]\n[[models]]\nspec = 'embedded'\ntemperature = 'hot'\n", "models[0].temperature: Input should"),
        ("[study]\ngrading = 'both'\n[[models]]\nspec = 'embedded'\n", "needs a judge model"),
    ]:
        bad.write_text(text)
        r = cli("study", str(bad))
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (text, r.stderr)
    r = cli("study", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read study file" in r.stderr


@pytest.mark.parametrize("name", ["demo.toml", "paper.toml"])
def test_shipped_study_files_are_valid(name):
    from pathlib import Path

    from mathcodebench.study import load_study

    runs, text = load_study(Path(__file__).resolve().parents[1] / "studies" / name)
    configs = [settings for settings, _ in runs]
    assert configs and text
    if name == "demo.toml":
        assert [(c.model, c.regeneration) for c in configs] == [("embedded", "full"), ("embedded", "tbt")]
    if name == "paper.toml":
        assert [(c.model, c.regeneration) for c in configs] == [
            ("ollama/llama3.1:8b", "full"),
            ("ollama/llama3.1:8b", "tbt"),
            ("ollama/olmo2:7b", "full"),
            ("mistral/codestral-2501", "full"),
            ("openai/gpt-4o-mini-2024-07-18", "full"),
            ("mistral/open-codestral-mamba", "full"),
        ]
        assert configs[1].chat_template == "llama3"
        assert configs[0].per_cell == 27 and configs[0].attempts == 10
        assert configs[0].grading == "both" and configs[0].judge == "mistral/mistral-large-2411"


def test_a_study_cannot_name_the_same_run_twice(tmp_path):
    study = tmp_path / "twice.toml"
    study.write_text(
        '[study]\nlimit = 1\n[[models]]\nspec = "embedded"\n[[models]]\nspec = "embedded"\nregeneration = "full"\n'
    )
    r = cli("study", str(study))
    assert r.returncode == 2 and "would make the same run" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()
