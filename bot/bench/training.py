"""Training time: full training from an empty cache, then after one response text changed.

Both bots are trained from copies in a temporary folder, each with its own empty Rasa
training cache, so the real domain.yml is never touched and earlier runs do not help.
The reference's full training is `rasa init --no-prompt` itself (scaffold + train).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.bench.system import base_env, copy_project
from bot.launcher import RASA
from bot.paths import ROOT

OUR_TRAIN = ["train", "--data", "data/nlu", "data/rules", "--fixed-model-name", "bot"]


@dataclass(frozen=True)
class TrainingResult:
    bot: str
    full_seconds: float
    retrain_seconds: float
    changed: str


def _timed(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    start = time.perf_counter()
    with open(log, "ab") as out:
        subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def change_one_response(domain: Path) -> str:
    """Append a character to the last line of the first response text; return that line."""
    responses = yaml.safe_load(domain.read_text(encoding="utf-8"))["responses"]
    first = next(iter(responses.values()))[0]["text"]
    line = first.strip().splitlines()[-1].strip()
    raw = domain.read_text(encoding="utf-8")
    if line not in raw:
        raise ValueError(f"cannot find {line!r} in {domain}")
    domain.write_text(raw.replace(line, line + "～", 1), encoding="utf-8")
    return line


def _env(project: Path) -> dict[str, str]:
    env = base_env()
    env["RASA_CACHE_DIRECTORY"] = str(project / ".rasa" / "cache")
    return env


def train_ours(work: Path) -> TrainingResult:
    """`rasa train` of a copy of this project, then again after one response changed."""
    project = copy_project(work / "ours-training")
    env = _env(project)
    env["PYTHONPATH"] = str(ROOT)
    log = work / "logs" / "training-ours.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    full = _timed([RASA, *OUR_TRAIN, "--out", "models"], project, env, log)
    changed = change_one_response(project / "domain.yml")
    retrain = _timed([RASA, *OUR_TRAIN, "--out", "models-retrained"], project, env, log)
    return TrainingResult("ours", full, retrain, changed)


def create_reference(work: Path) -> tuple[Path, float]:
    """`rasa init --no-prompt` into a temporary folder; return it and the seconds it took."""
    project = work / "reference"
    project.mkdir(parents=True, exist_ok=True)
    log = work / "logs" / "training-reference.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = _env(project)
    env.pop("PYTHONPATH", None)
    seconds = _timed([RASA, "init", "--no-prompt", "--init-dir", str(project)], project, env, log)
    if not list((project / "models").glob("*.tar.gz")):
        raise RuntimeError(f"rasa init trained no model; see {log}")
    return project, seconds


def retrain_reference(project: Path, full_seconds: float, work: Path) -> TrainingResult:
    """Retrain the reference after one response text changed (its cache is warm)."""
    env = _env(project)
    env.pop("PYTHONPATH", None)
    changed = change_one_response(project / "domain.yml")
    retrain = _timed([RASA, "train", "--out", "models-retrained"], project, env,
                     work / "logs" / "training-reference.log")
    return TrainingResult("reference", full_seconds, retrain, changed)
