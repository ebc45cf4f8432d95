"""`mathcodebench view`: the read-only viewer over real HTTP on 127.0.0.1, with scripted runs."""

import hashlib
import threading

import httpx
import pytest

from conftest import ScriptedModel, fenced, run_to_end
from mathcodebench.report.viewer import make_server
from mathcodebench.settings import Settings

SCRIPT = {
    "What is the value of $3x + 7$": [fenced("print(22)")],
    "slope of the line": [fenced("x = 1 / 0"), fenced("print('3/2')")],
    "For what values of $x$": [fenced("import socket\nsocket.socket().connect(('1.1.1.1', 80))")],
}


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    db = tmp_path_factory.mktemp("view") / "run.sqlite"
    run_to_end(Settings(model="scripted", limit=3, attempts=2), db, ScriptedModel(SCRIPT))
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    server = make_server([db], port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", db, digest
    server.shutdown()
    server.server_close()


def test_index_lists_and_filters_problems(viewer):
    url, _, _ = viewer
    page = httpx.get(url + "/").text
    assert "3 problems" in page and "sample/algebra/1" in page
    wrong = httpx.get(url + "/", params={"outcome": "wrong"}).text
    assert "1 problems" in wrong and "sample/algebra/2" in wrong and "sample/algebra/1<" not in wrong
    unsolved = httpx.get(url + "/", params={"outcome": "unsolved", "status": "runtime_error"}).text
    assert "1 problems" in unsolved and "sample/algebra/3" in unsolved
    assert "0 problems" in httpx.get(url + "/", params={"level": "5"}).text


def test_problem_page_shows_every_attempt(viewer):
    url, _, _ = viewer
    page = httpx.get(url + "/problem", params={"run": 0, "id": "sample/algebra/2"}).text
    assert "Attempt 1: runtime_error (ZeroDivisionError)" in page and "Attempt 2: answered" in page
    assert 'class="highlight"' in page  # code is highlighted
    assert "Feedback to the next attempt" in page and "The failing line is line 1" in page
    assert "symbolic" in page and "3/2" in page
    hostile = httpx.get(url + "/problem", params={"run": 0, "id": "sample/algebra/3"}).text
    assert "Flagged: network" in hostile and "Refused by the sandbox" in hostile
    assert httpx.get(url + "/problem", params={"run": 0, "id": "nope"}).status_code == 404
    assert httpx.get(url + "/problem", params={"run": 7, "id": "sample/algebra/1"}).status_code == 404


def test_the_viewer_is_read_only_and_local(viewer):
    url, db, digest = viewer
    assert url.startswith("http://127.0.0.1:")
    assert httpx.post(url + "/", content=b"x").status_code == 501  # GET only
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
