"""``python -m bot.loadtest`` (``make loadtest``): load and fault runs, then the report.

1. Start the production profile on its own ports and database (``jiebang_loadtest``,
   recreated empty), with fault injection on and WeChat pointed at a fake API.
2. Run Locust headless through nginx (``bot/loadtest/locustfile.py``).
   Besides merchants (REST and WeChat), the simulated users play agents in the console
   API: live handoffs (claim, silence, replies, hand-back) and step changes whose
   notices go through the outbox workers.
3. Meanwhile inject the faults one after another: kill a Rasa replica, kill an action
   server, cut PostgreSQL's connections (``--pg-restart``, which ``make loadtest`` passes
   unless ``PG_RESTART=0``: restart the cluster), restart
   Redis (always started again), slow actions past WeChat's 5 s. A probe sends a new
   conversation's greeting every 0.5 s and measures how long each fault leaves the bot
   without an answer.
4. Verify from PostgreSQL (``bot.loadtest.verify``), write ``var/loadtest/report.json``
   and the section ``## Production profile (make loadtest)`` of docs/benchmarks.md.
Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import docsection
from bot.launcher import PYTHON
from bot.loadtest import wechat
from bot.loadtest.verify import read_log, verify
from bot.ops import faults
from bot.ops.prod import Profile
from bot.ops.settings import ProdSettings
from bot.paths import ROOT, VAR

HEADING = "## Production profile (make loadtest)"
LOCUST = str(Path(PYTHON).with_name("locust"))


@dataclass
class Probe:
    """A new conversation's greeting every ``interval`` s; (sent, answered) pairs."""

    url: str
    interval: float = 0.5
    results: list[tuple[float, bool]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            started = time.time()
            try:
                r = session.post(self.url, json={"sender": f"probe-{uuid.uuid4().hex[:12]}",
                                                 "message": "你好"}, timeout=10)
                ok = r.status_code == 200 and bool(r.json())
            except (requests.RequestException, ValueError):
                ok = False
            self.results.append((started, ok))
            self.stop.wait(max(0.0, self.interval - (time.time() - started)))

    def recovered_after(self, moment: float, limit: float = 120.0) -> float | None:
        """Seconds from ``moment`` to the first answered probe sent after it."""
        deadline = time.time() + limit
        while time.time() < deadline:
            for sent, ok in list(self.results):
                if sent >= moment and ok:
                    return round(sent - moment, 2)
            time.sleep(0.25)
        return None

    def failures_between(self, start: float, end: float) -> tuple[int, int]:
        window = [ok for sent, ok in self.results if start <= sent <= end]
        return sum(1 for ok in window if not ok), len(window)


@dataclass
class FaultRun:
    name: str
    inject: Callable[[], float]
    """Injects the fault and returns the moment it ended (epoch seconds)."""
    result: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def make_faults(profile: Profile, pg_restart: bool, slow_seconds: float) -> list[FaultRun]:
    s = profile.settings

    restarted: dict[str, float] = {}

    def kill(name: str) -> Callable[[], float]:
        def run() -> float:
            profile.kill(name)
            moment = time.time()

            def wait_back() -> None:  # supervisord restarts it; the load goes on meanwhile
                restarted[name] = round(profile.wait_ready(600, names=[name]), 1)

            threading.Thread(target=wait_back, daemon=True).start()
            return moment
        return run

    def postgres() -> float:
        if pg_restart:
            faults.restart_postgres()
        else:
            faults.terminate_connections(s.database_url)
        return time.time()

    def redis() -> float:
        faults.restart_redis(down_for=3.0)
        return time.time()

    def slow() -> float:
        with faults.slow_actions(s.faults_dir, slow_seconds):
            time.sleep(12)
        return time.time()

    make_faults.restarted = restarted  # type: ignore[attr-defined]
    return [
        FaultRun("kill one Rasa replica (SIGKILL rasa-1)", kill("rasa-1")),
        FaultRun("kill one action server (SIGKILL actions-1)", kill("actions-1")),
        FaultRun("restart PostgreSQL" if pg_restart else
                 "cut PostgreSQL connections (pg_terminate_backend)", postgres),
        FaultRun("restart Redis (shutdown nosave, start)", redis),
        FaultRun(f"slow action server ({slow_seconds:.0f} s per call, 12 s)", slow),
    ]


def fresh_database(url: str) -> None:
    parsed = make_url(url)
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("select pg_terminate_backend(pid) from pg_stat_activity "
                          "where datname = :d and pid <> pg_backend_pid()"),
                     {"d": parsed.database})
        conn.execute(text(f'drop database if exists "{parsed.database}"'))
        conn.execute(text(f'create database "{parsed.database}"'))
    engine.dispose()


def drain_outbox(url: str, run: str, limit: float = 180.0) -> float | None:
    """Wait until the run's outbox rows are all settled; seconds it took (None: not)."""
    engine = create_engine(url)
    started = time.time()
    try:
        while time.time() - started < limit:
            with engine.connect() as conn:
                waiting = conn.execute(text(
                    "select count(*) from outbox where sender_id like :p "
                    "and state in ('pending', 'leased')"), {"p": f"{run}-%"}).scalar()
            if not waiting:
                return round(time.time() - started, 1)
            time.sleep(1)
        return None
    finally:
        engine.dispose()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.loadtest")
    parser.add_argument("--conversations", type=int, default=150)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--max-time", default="8m")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--pg-restart", action="store_true",
                        help="restart the PostgreSQL cluster instead of cutting connections")
    parser.add_argument("--fault-gap", type=float, default=12.0)
    parser.add_argument("--slow-seconds", type=float, default=6.0)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/"
                                                 "jiebang_loadtest")
    parser.add_argument("--benchmarks", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    run = f"lt{time.strftime('%H%M%S')}"
    out = VAR / "loadtest" / run
    out.mkdir(parents=True, exist_ok=True)
    fresh_database(args.database)
    settings = ProdSettings.from_env(
        {}, database_url=args.database, tracker_store_url=args.database,
        public_port=8090, internal_port=8091, actions_proxy_port=8092,
        rasa_ports=(5205, 5206), action_ports=(5255, 5256), web_port=8200,
        outbox_ports=(5257, 5258),
        run_dir=VAR / "loadtest" / "profile", fault_injection=True, create_database=False,
    )
    report: dict = {"run": run, "conversations": args.conversations, "users": args.users}
    with wechat.FakeApi(out / "wechat-api.jsonl") as api:
        env = {**os.environ, **wechat.env(api.url)}
        env.pop("RASA_AUTH_TOKEN", None)
        # The simulated agents use the console API with the shared token.
        env["CONSOLE_TOKEN"] = env.get("CONSOLE_TOKEN") or uuid.uuid4().hex
        env.setdefault("HANDOFF_HOURS", "always")
        profile = Profile(settings, base_env=env)
        started = time.time()
        profile.start(timeout=600)  # two Rasa replicas on 2 shared cores can take minutes
        report["profile_start_seconds"] = round(time.time() - started, 1)
        print(f"profile ready in {report['profile_start_seconds']} s", flush=True)
        probe = Probe(f"{settings.public_url}/webhooks/rest/webhook")
        probe_thread = threading.Thread(target=probe.run, daemon=True)
        fault_runs = [] if args.no_faults else make_faults(profile, args.pg_restart,
                                                           args.slow_seconds)
        try:
            probe_thread.start()
            locust_env = {**env, "LOADTEST_RUN_ID": run, "LOADTEST_OUT": str(out),
                          "LOADTEST_CONVERSATIONS": str(args.conversations),
                          "PYTHONPATH": str(ROOT)}
            t0 = time.time()
            locust = subprocess.Popen(
                [LOCUST, "-f", str(ROOT / "bot/loadtest/locustfile.py"), "--headless",
                 "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.max_time,
                 "--host", settings.public_url, "--csv", str(out / "locust"),
                 "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"],
                env=locust_env, cwd=ROOT, stdout=open(out / "locust.out", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            time.sleep(args.fault_gap)
            for fault in fault_runs:
                if locust.poll() is not None:
                    fault.result = {"skipped": "load already finished"}
                    continue
                print(f"fault: {fault.name}", flush=True)
                injected = time.time()
                ended = fault.inject()
                recovered = probe.recovered_after(ended)
                failed, total = probe.failures_between(injected, ended + (recovered or 0))
                fault.result = {"injected_at_s": round(injected - t0, 1),
                                "fault_lasted_s": round(ended - injected, 1),
                                "answers_again_after_s": recovered,
                                "probe_failures": f"{failed}/{total}"}
                print(f"  {fault.result}", flush=True)
                time.sleep(args.fault_gap)
            locust.wait()
            duration = time.time() - t0
            profile.wait_ready(600)
            for fault in fault_runs:
                for name, seconds in getattr(make_faults, "restarted", {}).items():
                    if name in fault.name and "skipped" not in fault.result:
                        fault.result["restarted_ready_after_s"] = seconds
            probe.stop.set()
            probe_thread.join(15)
            time.sleep(3)  # late WeChat API deliveries
            report["outbox_drain_s"] = drain_outbox(settings.database_url, run)
            records = read_log(out)
            verdict = verify(records, run, settings.tracker_store_url, settings.database_url,
                             wechat.ACCOUNT)
        finally:
            probe.stop.set()
            faults.start_redis()
            profile.stop()
    ok_latencies = [r["latency"] for r in records if r["event"] == "turn" and r["ok"]]
    api_deliveries = sum(1 for _ in (out / "wechat-api.jsonl").open()) if (
        out / "wechat-api.jsonl").exists() else 0
    report.update(verdict.numbers)
    report.update({
        "duration_s": round(duration, 1),
        "turns_per_s": round(len(ok_latencies) / duration, 2),
        "p50_s": round(percentile(ok_latencies, 0.50), 3),
        "p95_s": round(percentile(ok_latencies, 0.95), 3),
        "p99_s": round(percentile(ok_latencies, 0.99), 3),
        "mean_s": round(statistics.fmean(ok_latencies), 3) if ok_latencies else None,
        "wechat_api_deliveries": api_deliveries,
        "faults": {f.name: f.result for f in fault_runs},
        "problems": verdict.problems + [
            f"fault not injected ({f.name}): the load finished first; "
            "run with more --conversations" for f in fault_runs if "skipped" in f.result
        ],
        "ok": verdict.ok and all(f.result.get("answers_again_after_s") is not None
                                 for f in fault_runs),
    })
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if not args.no_write:
        write_section(Path(args.benchmarks), markdown(report))
    return 0 if report["ok"] else 1


def markdown(r: dict) -> str:
    lines = [
        HEADING, "",
        f"Run `{r['run']}` ({time.strftime('%Y-%m-%d')}): `make loadtest` on this machine "
        "(2 shared cores), Locust headless through nginx against 2 Rasa replicas, "
        "2 action servers, PostgreSQL and Redis; faults injected during the load.",
        "",
        "| measure | value |", "| --- | --- |",
        f"| conversations (users) | {r['conversations']} ({r['users']} concurrent) |",
        f"| REST turns sent / answered | {r['rest_turns_sent']} / {r['rest_turns_answered']} |",
        f"| REST attempts / failed visibly (5xx, timeout) / empty 200 | {r['rest_attempts']} / "
        f"{r['rest_attempts_failed_visibly']} / {r['rest_empty_200']} |",
        f"| turns unanswered after retries | {r['rest_turns_unanswered_after_retries']} |",
        f"| latency p50 / p95 / p99 (answered attempts) | {r['p50_s']} s / {r['p95_s']} s / "
        f"{r['p99_s']} s |",
        f"| answered turns per second | {r['turns_per_s']} (run {r['duration_s']} s) |",
        f"| WeChat messages / callbacks / answered / via API | {r['wechat_messages']} / "
        f"{r['wechat_callbacks']} / {r['wechat_answered']} / {r['wechat_api_deliveries']} |",
        f"| tickets created / expected | {r['tickets_created']} / {r['tickets_expected']} |",
        f"| tickets duplicated / lost | {r['tickets_duplicated']} / {r['tickets_lost']} |",
        f"| turns missing from trackers | {r['turns_missing_from_tracker']} |",
        f"| turns stored twice (after a visible error, retried) / unexplained | "
        f"{r['turns_stored_twice_after_visible_error']} / "
        f"{r['turns_stored_twice_unexplained']} |",
        f"| WeChat messages answered with the apology (sent again) | "
        f"{r['wechat_answered_with_apology_then_resent']} |",
        f"| WeChat messages processed twice / answered but not stored | "
        f"{r['wechat_turns_stored_twice']} / {r['wechat_answered_not_stored']} |",
        f"| conversations with events out of order | {r['conversations_out_of_order']} |",
        f"| handoffs asked / claimed / handed back | {r['handoffs']} / {r['handoffs_claimed']}"
        f" / {r['handoffs_handed_back']} |",
        f"| merchant turns sent to an agent / answered by the bot anyway | "
        f"{r['turns_to_agent']} / {r['turns_to_agent_answered_by_bot']} |",
        f"| agent replies / step-change notices / outbox messages delivered | "
        f"{r['agent_replies']} / {r['notices']} / {r['outbox_delivered']} of "
        f"{r['outbox_messages']} (settled {r['outbox_drain_s']} s after the load) |",
        f"| outbox messages stored twice in a conversation | {r['outbox_stored_twice']} |",
        f"| profile start (all ready) | {r['profile_start_seconds']} s |",
        "",
    ]
    if r["faults"]:
        lines += ["| fault (during the load) | at | lasted | answers again after | "
                  "probe failures | killed process ready again after |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name, f in r["faults"].items():
            if "skipped" in f:
                lines.append(f"| {name} | skipped: {f['skipped']} | | | | |")
                continue
            lines.append(f"| {name} | {f['injected_at_s']} s | {f['fault_lasted_s']} s | "
                         f"{f['answers_again_after_s']} s | {f['probe_failures']} | "
                         f"{f.get('restarted_ready_after_s', '–')} |")
        lines.append("")
    verdict = "all checks passed" if r["ok"] else "FAILED: " + "; ".join(r["problems"])
    lines += [f"Result: {verdict}.", ""]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) this section of ``path``; the rest is left as it is."""
    docsection.write_section(path, "loadtest", section)


if __name__ == "__main__":
    sys.exit(main())
