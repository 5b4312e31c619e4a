"""The serving phases: start-up, console search, conversation load, memory, profiles,
Sanic workers.

Ours and the reference run at the same time (idle while the other is measured) and are
measured in alternation: start-up A B A B…, and at each concurrency level round 1 runs
ours then the reference, round 2 the reference then ours, and so on. Our web app runs
only for the console search, once ours is up and before any conversation load.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis
from tqdm import tqdm

from bot.bench.answers import AnswersResult, evaluate_answers
from bot.bench.console import ConsoleResult, measure_answers
from bot.bench.load import LoadResult, Script, ours_script, reference_script, run_load, warm_up
from bot.bench.settings import REDIS_HOST, REDIS_PORT, Settings
from bot.bench.system import (
    OurBot,
    Profile,
    Server,
    our_bot,
    py_spy_record,
    reference_server,
    stop_py_spy,
    summarise_profile,
)


@dataclass
class Target:
    """A bot under load: its name, REST URL and conversation script."""

    name: str
    url: str
    script: Script


@dataclass
class ServingResult:
    startup: dict[str, list[float]] = field(default_factory=dict)
    load: dict[tuple[str, int], LoadResult] = field(default_factory=dict)
    memory_mb: dict[str, float] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    workers: dict[tuple[str, int], LoadResult] = field(default_factory=dict)
    workers_memory_mb: dict[str, float] = field(default_factory=dict)
    console: ConsoleResult | None = None
    answers: AnswersResult | None = None
    notes: list[str] = field(default_factory=list)


def _alternate(
    targets: list[Target], levels: tuple[int, ...], settings: Settings, desc: str,
) -> dict[tuple[str, int], LoadResult]:
    results: dict[tuple[str, int], LoadResult] = {}
    total_turns = 0
    runs = [(c, r) for c in levels for r in range(settings.rounds)]
    seconds = sum(settings.seconds_for(c) for c, _ in runs) * len(targets)
    with tqdm(total=round(seconds), desc=desc, unit="s") as bar:
        for concurrency, round_no in runs:
            order = targets if round_no % 2 == 0 else list(reversed(targets))
            for target in order:
                bar.set_postfix_str(f"{target.name} ×{concurrency}, turns {total_turns}")
                result = run_load(target.name, target.url, target.script, concurrency,
                                  settings.seconds_for(concurrency))
                total_turns += result.turns
                key = (target.name, concurrency)
                if key in results:
                    results[key].merge(result)
                else:
                    results[key] = result
                bar.update(round(settings.seconds_for(concurrency)))
    return results


def _startups(servers: list[Server], repeats: int) -> None:
    """Start each server ``repeats`` times in alternation; leave the last start running."""
    for rep in tqdm(range(repeats), desc="start-up", unit="round"):
        order = servers if rep % 2 == 0 else list(reversed(servers))
        for server in order:
            server.start()
            if rep < repeats - 1:
                server.stop()


def _profile_startup(server: Server, out: Path) -> Profile | None:
    server.stop()
    import time

    started = time.perf_counter()
    server.launch()
    spy = py_spy_record(server.pid, out)
    server.wait_ready(started)
    stop_py_spy(spy)
    return summarise_profile(out)


def _profile_load(bot: OurBot, target: Target, settings: Settings, work: Path) -> None:
    seconds = settings.profile_seconds
    spies = {
        "serving: rasa": (py_spy_record(bot.rasa.pid, work / "profile-rasa.txt", seconds),
                          work / "profile-rasa.txt"),
        "serving: actions": (py_spy_record(bot.actions.pid, work / "profile-actions.txt",
                                           seconds), work / "profile-actions.txt"),
    }
    run_load(target.name, target.url, target.script, 10, seconds)
    for _name, (spy, _path) in spies.items():
        try:
            spy.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            stop_py_spy(spy)


def run_serving(
    settings: Settings, work: Path, model: Path, reference: Path | None,
) -> ServingResult:
    """Start-up, load, memory and profiles of ours (and the reference), then workers."""
    result = ServingResult()
    ours = our_bot(work / "ours", model)
    ref = reference_server(reference, work) if reference else None
    servers = [s for s in (ref, ours.rasa) if s]
    try:
        ours.actions.start()
        _startups(servers, settings.startup_repeats)
        result.startup = {"ours": ours.rasa.startup_seconds,
                          "ours actions": ours.actions.startup_seconds}
        if ref:
            result.startup["reference"] = ref.startup_seconds
        if settings.profile_seconds:
            profile = _profile_startup(ours.rasa, work / "profile-startup.txt")
            if profile:
                result.profiles["start-up: rasa (ours)"] = profile
        _console(ours, settings, result)
        print(f"answers through the dialogue: {', '.join(settings.answer_sets)}…", flush=True)
        result.answers = evaluate_answers(ours.rest_url.removesuffix("/webhooks/rest/webhook"),
                                          settings.answer_sets)
        targets = [Target("ours", ours.rest_url, ours_script)]
        if ref:
            targets.append(Target("reference", ref.health_url.replace(
                "/status", "/webhooks/rest/webhook"), reference_script))
        for target in targets:
            warm_up(target.url, target.script)
        result.load = _alternate(targets, settings.concurrency, settings, "conversations")
        result.memory_mb = {"ours rasa": ours.rasa.rss_mb(),
                            "ours actions": ours.actions.rss_mb()}
        if ref:
            result.memory_mb["reference rasa"] = ref.rss_mb()
        if settings.profile_seconds:
            _profile_load(ours, targets[0], settings, work)
            for name, path in (("serving: rasa (ours, 10 conversations)", "profile-rasa.txt"),
                               ("serving: actions (ours, 10 conversations)",
                                "profile-actions.txt")):
                profile = summarise_profile(work / path)
                if profile:
                    result.profiles[name] = profile
    finally:
        for server in servers:
            server.stop()
    try:
        if settings.workers:
            _workers(settings, work, model, ours, result)
    except (RuntimeError, TimeoutError, OSError) as error:
        result.notes.append(f"Sanic workers not measured: {error}")
    finally:
        ours.actions.stop()
    return result


def _console(ours: OurBot, settings: Settings, result: ServingResult) -> None:
    """Start the web app in front of our running Rasa, search with it, stop it again."""
    try:
        seconds = ours.web.start(timeout=120)
    except (RuntimeError, TimeoutError, OSError) as error:
        result.notes.append(f"Console answer search not measured: {error}")
        return
    try:
        print(f"console search: 1 warm-up + {settings.console_passes} measured passes "
              "over the console queries…", flush=True)
        console = measure_answers(ours.web_url, ours.console_token, settings.console_passes)
        console.startup_seconds = seconds
        console.memory_mb = ours.web.rss_mb()
        result.console = console
    finally:
        ours.web.stop()


def _workers(
    settings: Settings, work: Path, model: Path, ours: OurBot, result: ServingResult,
) -> None:
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2).ping()
    except redis.RedisError as error:
        result.notes.append(f"Sanic workers not measured: no Redis at "
                            f"{REDIS_HOST}:{REDIS_PORT} ({error})")
        return
    bots = {n: our_bot(work / f"w{n}", model, f"ours-{n}w", workers=n, redis_lock=True,
                       actions=ours.actions) for n in (1, 2)}
    try:
        for bot in bots.values():
            bot.rasa.start()
        targets = [Target(f"{n} worker{'s' if n > 1 else ''}", bot.rest_url, ours_script)
                   for n, bot in bots.items()]
        for target in targets:
            warm_up(target.url, target.script)
        result.workers = _alternate(targets, settings.worker_concurrency, settings, "workers")
        result.workers_memory_mb = {t.name: b.rasa.rss_mb()
                                    for t, b in zip(targets, bots.values(), strict=True)}
    finally:
        for bot in bots.values():
            bot.rasa.stop()
