"""`mathcodebench view`: a local, read-only web viewer of run databases (bound to 127.0.0.1 only).

Filter problems by run, subject, level and outcome; open one to see the statement, the reference, every
attempt's response, highlighted code, output, errors and grades. Databases are opened read-only, and the
server answers GET only.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from ..data import LEVELS, SUBJECTS
from ..grading import FINAL
from ..solve import Attempt, AttemptStatus
from ..store import RunStore
from .compare import store_label
from .summary import unit_label

OUTCOMES = ("correct", "wrong", "unsolved", "unfinished")


class Viewer:
    """What the pages show, read from the stores once per request (a run in progress stays current)."""

    def __init__(self, dbs: list[Path]) -> None:
        self.stores = [RunStore.read(db) for db in dbs]
        self.labels = [store_label(store.load()) for store in self.stores]
        self.env = Environment(
            loader=PackageLoader("mathcodebench.report", "templates"),
            autoescape=select_autoescape(["html", "j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["python"] = lambda code: Markup(highlight(code, PythonLexer(), HtmlFormatter()))
        self.css = HtmlFormatter().get_style_defs(".highlight")
        self.lock = threading.Lock()  # RunStore serialises its own use; this keeps page renders whole

    def index(self, query: dict[str, str]) -> str:
        rows = []
        for i, (store, label) in enumerate(zip(self.stores, self.labels, strict=True)):
            if query.get("run") not in (None, "", str(i)):
                continue
            data = store.load()
            for p in data.problems:
                for unit in data.units(p.id):
                    tried = data.tried(unit)
                    outcome = _outcome(tried, data.final.get(unit))
                    if (
                        query.get("subject") not in (None, "", p.subject)
                        or query.get("level") not in (None, "", str(p.level))
                        or query.get("outcome") not in (None, "", outcome)
                        or (query.get("status") not in (None, "") and query["status"] not in {a.status for a in tried})
                    ):
                        continue
                    rows.append(
                        {
                            "run": i,
                            "label": label,
                            "problem": p,
                            "name": unit_label(unit, data.samples),
                            "attempts": tried,
                            "outcome": outcome,
                            "link": "/problem?" + urlencode({"run": i, "id": p.id, "sample": unit[1]}),
                        }
                    )
        return self.env.get_template("viewer_index.html.j2").render(
            rows=rows,
            query=query,
            labels=self.labels,
            subjects=SUBJECTS,
            levels=LEVELS,
            outcomes=OUTCOMES,
            statuses=[s.value for s in AttemptStatus],
        )

    def problem(self, query: dict[str, str]) -> str | None:
        try:
            store = self.stores[int(query.get("run", ""))]
        except (ValueError, IndexError):
            return None
        data = store.load()
        found = next((p for p in data.problems if p.id == query.get("id")), None)
        sample = int(query["sample"]) if query.get("sample", "").isdigit() else 1
        if found is None or not 1 <= sample <= data.samples:
            return None
        unit = (found.id, sample)
        grades = {name: data.grades[name].get(unit) for name in sorted(data.grades)}
        tried = data.tried(unit)
        others = (
            [
                {"sample": s, "link": "/problem?" + urlencode({"run": query["run"], "id": found.id, "sample": s})}
                for _, s in data.units(found.id)
            ]
            if data.samples > 1
            else []
        )
        return self.env.get_template("viewer_problem.html.j2").render(
            problem=found,
            attempts=tried,
            grades={k: v for k, v in grades.items() if v is not None},
            label=self.labels[int(query["run"])],
            css=self.css,
            outcome=_outcome(tried, grades.get(FINAL)),
            sample=sample,
            samples=others,
        )


def _outcome(tried: list[Attempt], grade: object) -> str:
    if grade is None:
        return "unfinished"
    if not any(a.status == AttemptStatus.ANSWERED for a in tried):
        return "unsolved"
    return "correct" if getattr(grade, "correct", False) else "wrong"


def make_server(dbs: list[Path], port: int = 8765) -> ThreadingHTTPServer:
    viewer = Viewer(dbs)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with viewer.lock:
                page = (
                    viewer.index(query)
                    if url.path == "/"
                    else viewer.problem(query)
                    if url.path == "/problem"
                    else None
                )
            if page is None:
                self.send_error(HTTPStatus.NOT_FOUND, "no such page or problem")
                return
            body = page.encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: the terminal shows the address only
            return

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
