"""`python -m bot.bench [--quick] [--out DIR]`: run every phase and write the reports."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path

from bot import docsection
from bot.bench.long import LongResult
from bot.paths import ROOT


def _quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.ERROR)
    for name in ("rasa", "tensorflow", "absl", "jieba", "matplotlib", "asyncio"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)


def _header(quick: bool, started: str, commit: str, seconds: float) -> list[str]:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [f"Run started {started} on commit `{commit}` (working tree as it was then), "
            f"took {seconds / 60:.0f} min; {os.cpu_count()} CPUs, load average at the end "
            f"{load}; `python -m bot.bench{' --quick' if quick else ''}`."]


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip() or "unknown"


def _configured_threshold() -> float:
    import yaml

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config.get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3))
    return 0.3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, ours only, to a temporary folder")
    parser.add_argument("--answers-only", action="store_true",
                        help="only the answer quality through the running bot (hold-out, "
                             "development and blind sets), printed and written to --out")
    parser.add_argument("--stats-only", action="store_true",
                        help="only the 统计 page at --stats-conversations generated "
                             "conversations (SQLite, and PostgreSQL at BENCH_PG_URL or "
                             "DATABASE_URL_TEST), printed and written to --out/benchmarks.md")
    parser.add_argument("--long-only", action="store_true",
                        help="only the long conversation (--long-turns turns of one sender, "
                             "ours and the reference, SQLite and PostgreSQL at BENCH_PG_URL "
                             "or DATABASE_URL_TEST), written to --out/benchmarks.md")
    parser.add_argument("--long-turns", type=int, default=600,
                        help="turns of the long conversation (in six buckets)")
    parser.add_argument("--long-stores", default="SQLite,PostgreSQL",
                        help="with --long-only: the tracker stores to hold it on "
                             "(PostgreSQL only where a URL is configured)")
    parser.add_argument("--reference", type=Path,
                        help="with --long-only: a `rasa init` project already made and "
                             "trained, reused instead of making one")
    parser.add_argument("--stats-conversations", type=int, default=100_000,
                        help="conversations generated for the 统计 page bench")
    parser.add_argument("--sets", default="hold-out,development,blind,blind-1",
                        help="with --answers-only: which sets, comma-separated")
    parser.add_argument("--out", type=Path,
                        help="folder for benchmarks.md, nlu.md, bench/*.png "
                             "(default: docs/, or a temporary folder with --quick)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the configs name data/dictionaries relative to the project
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    os.environ["RASA_CACHE_DIRECTORY"] = str(work / "nlu-cache")
    _quiet()

    from bot.bench import console_report, plots, report
    from bot.bench.answers import summary as answers_summary
    from bot.bench.nlu_quality import evaluate_entities, evaluate_pipelines, most_confused
    from bot.bench.serving import run_serving
    from bot.bench.settings import BLIND, MODEL, full_settings, quick_settings
    from bot.bench.targets import summary_text, targets
    from bot.bench.training import create_reference, retrain_reference, train_ours

    if args.answers_only:
        return answers_only(work, args.out, tuple(args.sets.split(",")))
    if args.stats_only:
        return stats_only(work, args.out or ROOT / "docs", args.stats_conversations)
    if args.long_only:
        return long_only(work, args.out or ROOT / "docs", args.long_turns,
                         tuple(args.long_stores.split(",")), args.reference)
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-out-")) if args.quick
                       else ROOT / "docs")
    settings = (quick_settings if args.quick else full_settings)(out.resolve())
    settings.plots_dir.mkdir(parents=True, exist_ok=True)
    if not MODEL.exists():
        print(f"no trained model at {MODEL}: run `make train` first", file=sys.stderr)
        return 2
    started = time.perf_counter()
    started_at, commit = f"{datetime.datetime.now():%Y-%m-%d %H:%M}", _commit()
    print(f"bench: work folder {work}, reports to {settings.out_dir}", flush=True)

    nlu = evaluate_pipelines(settings)
    entities = evaluate_entities()
    training = {}
    reference = None
    if settings.training:
        print("training ours from an empty cache (and again after one response change)…",
              flush=True)
        training["ours"] = train_ours(work)
    if settings.reference:
        print("rasa init --no-prompt (the reference bot)…", flush=True)
        reference, ref_seconds = create_reference(work)
        if settings.training:
            training["reference"] = retrain_reference(reference, ref_seconds, work)
    serving = run_serving(settings, work, MODEL, reference)

    threshold = _configured_threshold()
    labels, matrix = most_confused(nlu[0].holdout_predictions)
    if labels:
        plots.confusion(labels, matrix, settings.plots_dir / "confusion.png")
    plots.threshold(nlu[0].sweep, threshold, settings.plots_dir / "threshold.png")
    plots.latency(serving.load, settings.plots_dir / "latency.png")
    plots.throughput({"ours vs reference": serving.load,
                      "Sanic workers (ours)": serving.workers},
                     settings.plots_dir / "throughput.png")
    header = _header(settings.quick, started_at, commit, time.perf_counter() - started)
    long_results = (long_conversation(work, settings.out_dir, settings.long_turns, reference)
                    if reference else [])  # the quick run has no reference
    rows = targets(nlu, entities, serving, training, long_results)
    report.write(settings.out_dir / "nlu.md", report.nlu_markdown(
        nlu, entities, header, threshold, BLIND.exists(), settings.plots_dir, settings.out_dir,
        serving.answers))
    report.write(settings.out_dir / "benchmarks.md", report.benchmarks_markdown(
        rows, serving, training, header, settings.plots_dir, settings.out_dir, settings.quick))
    _dump(work / "results.json", nlu, serving, training, rows)
    stats_only(work, settings.out_dir, 2_000 if settings.quick else args.stats_conversations)

    print("\n" + summary_text(rows))
    print("\n" + console_report.summary(serving.console))
    if serving.answers:
        print("\n" + answers_summary(serving.answers))
    best = nlu[0].best
    if best:
        print(f"\nfallback threshold: best {best.threshold:.2f} → accuracy "
              f"{100 * best.accuracy:.1f}% (config.yml {threshold})")
    print(f"\nwrote {settings.out_dir / 'benchmarks.md'}, {settings.out_dir / 'nlu.md'}, "
          f"{settings.plots_dir}/*.png; raw results {work / 'results.json'} "
          f"({time.perf_counter() - started:.0f} s)")
    failed = [f"{bot} ×{n}: {r.errors} of {r.turns} turns"
              for (bot, n), r in [*serving.load.items(), *serving.workers.items()] if r.errors]
    failed += [f"long conversation, {r.bot} on {r.store}: {r.errors} of {len(r.latencies)} "
               "turns" for r in long_results if r.errors]
    if serving.console and serving.console.errors:
        failed.append(f"console search: {serving.console.errors} of "
                      f"{len(serving.console.replies)} requests")
    if failed:  # fast failures would pass for speed: the figures mean nothing
        print("\nINVALID RUN, turns failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


def stats_only(work: Path, out: Path, conversations: int) -> int:
    """The 统计 page bench alone (``--stats-only``); its section of benchmarks.md."""
    from bot.bench import stats

    started_at = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
    results = stats.run(work / "stats", conversations)
    section = stats.markdown(results, stats.header(started_at, _commit()))
    stats.write_section(out / "benchmarks.md", section)
    print(section)
    return 0


def long_only(work: Path, out: Path, turns: int, stores: tuple[str, ...],
              reference: Path | None) -> int:
    """The long-conversation bench alone (``--long-only``); its section of benchmarks.md."""
    from bot.bench.long import STORES
    from bot.bench.settings import MODEL

    if not MODEL.exists():
        print(f"no trained model at {MODEL}: run `make train` first", file=sys.stderr)
        return 2
    if unknown := set(stores) - set(STORES):
        print(f"unknown stores {sorted(unknown)}; known: {list(STORES)}", file=sys.stderr)
        return 2
    if reference and not list((reference / "models").glob("*.tar.gz")):
        print(f"no trained model in {reference / 'models'}", file=sys.stderr)
        return 2
    results = long_conversation(work, out, turns, reference, stores)
    failed = [f"{r.bot} on {r.store}: {r.errors} of {len(r.latencies)} turns"
              for r in results if r.errors]
    if failed:
        print("\nINVALID RUN, turns failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


def long_conversation(work: Path, out: Path, turns: int, reference: Path | None = None,
                      stores: tuple[str, ...] = ("SQLite", "PostgreSQL")) -> list[LongResult]:
    """Run the long conversation on SQLite and PostgreSQL (if configured; either may be
    left out), write its section and plot into ``out``."""
    from bot.bench import long, plots
    from bot.bench.settings import MODEL

    started_at = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
    results = long.run(work, MODEL, turns, bucket=max(1, turns // 6), reference=reference,
                       stores=stores)
    plot = out / "bench" / "long_conversation.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plots.long_conversation(results, plot)
    section = long.markdown(results, long.header(started_at, _commit()), plot, out)
    docsection.write_section(out / "benchmarks.md", "long", section)
    print(section)
    return results


def answers_only(work: Path, out: Path | None, sets: tuple[str, ...]) -> int:
    """Start our action server and Rasa, score the answer sets, print the report."""
    from bot.bench import answers
    from bot.bench.settings import MODEL
    from bot.bench.system import our_bot

    if not MODEL.exists():
        print(f"no trained model at {MODEL}: run `make train` first", file=sys.stderr)
        return 2
    ours = our_bot(work / "ours", MODEL)
    try:
        ours.actions.start()
        ours.rasa.start()
        unknown = set(sets) - set(answers.SETS)
        if unknown:
            print(f"unknown sets {sorted(unknown)}; known: {list(answers.SETS)}", file=sys.stderr)
            return 2
        result = answers.evaluate_answers(
            ours.rest_url.removesuffix("/webhooks/rest/webhook"), sets)
    finally:
        ours.rasa.stop()
        ours.actions.stop()
    text = "\n".join(answers.markdown(result))
    print(text)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        answers.write(result, out / "answers.md")
    print("\n" + answers.summary(result))
    return 0


def _dump(path: Path, nlu: list, serving: object, training: dict, rows: list) -> None:
    from bot.bench.console_report import as_json

    def default(value: object) -> object:
        return repr(value)

    data = {
        "nlu": [{k: v for k, v in asdict(r).items() if k != "holdout_predictions"}
                for r in nlu],
        "serving": {
            "startup": serving.startup,  # type: ignore[attr-defined]
            "memory_mb": serving.memory_mb,  # type: ignore[attr-defined]
            "load": {f"{b}@{c}": {"p50": r.p(50), "p95": r.p(95), "p99": r.p(99),
                                  "turns": r.turns, "throughput": r.throughput,
                                  "errors": r.errors, "tickets": r.tickets}
                     for (b, c), r in {**serving.load,  # type: ignore[attr-defined]
                                       **serving.workers}.items()},  # type: ignore[attr-defined]
            "console": as_json(serving.console),  # type: ignore[attr-defined]
        },
        "training": {k: asdict(v) for k, v in training.items()},
        "targets": [{**asdict(r), "status": r.status} for r in rows],
    }
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=default),
                    encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
