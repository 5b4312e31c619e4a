"""How big each phase of the benchmark is: the full run and the `--quick` check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.paths import ROOT

PIPELINES_DIR = ROOT / "data" / "pipelines"
HOLDOUT = ROOT / "tests" / "nlu_holdout.yml"
GIBBERISH = ROOT / "tests" / "nlu_holdout_gibberish.yml"
BLIND = ROOT / "tests" / "nlu_blind.yml"
ENTITIES_HOLDOUT = ROOT / "tests" / "entities_holdout.yml"
NLU_DATA = ROOT / "data" / "nlu"
MODEL = ROOT / "models" / "bot.tar.gz"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


@dataclass(frozen=True)
class Pipeline:
    """One candidate NLU configuration; only its intent classifier differs from ours."""

    name: str
    config: Path
    cross_validate: bool = True


def default_pipelines() -> list[Pipeline]:
    """Ours (config.yml) first, then every candidate under data/pipelines/."""
    ours = Pipeline("ours: TF-IDF + LogReg", ROOT / "config.yml")
    others = [
        Pipeline(
            str(_pipeline_title(path)), path,
            cross_validate="diet" not in path.stem,
        )
        for path in sorted(PIPELINES_DIR.glob("*.yml"))
    ]
    return [ours, *others]


def _pipeline_title(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    return first.lstrip("# ").split(":")[0].strip() if first.startswith("#") else path.stem


@dataclass(frozen=True)
class Settings:
    """Sizes of every phase."""

    quick: bool
    out_dir: Path
    pipelines: list[Pipeline] = field(default_factory=default_pipelines)
    folds: int = 5
    thresholds: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(0, 17))
    concurrency: tuple[int, ...] = (1, 10, 50)
    worker_concurrency: tuple[int, ...] = (10, 50)
    seconds_per_run: dict[int, float] = field(
        default_factory=lambda: {1: 20.0, 10: 20.0, 50: 30.0}
    )
    rounds: int = 2
    startup_repeats: int = 2
    reference: bool = True
    training: bool = True
    workers: bool = True
    profile_seconds: float = 15.0
    console_passes: int = 3  # measured passes over the console queries (after a warm-up)
    long_turns: int = 600  # bot.bench.long: one sender's conversation, in six buckets
    answer_sets: tuple[str, ...] = (  # bot.bench.answers
        "hold-out", "development", "development-b-a", "development-b-b",
        "development-c-a", "development-c-b", "development-d-a", "development-d-b",
        "development-e-a", "development-e-b", "development-f-a", "development-f-b",
        "development-g-a", "development-g-b",
        "blind", "blind-1",
    )

    @property
    def plots_dir(self) -> Path:
        return self.out_dir / "bench"

    def seconds_for(self, concurrency: int) -> float:
        return self.seconds_per_run.get(concurrency, max(self.seconds_per_run.values()))


def full_settings(out_dir: Path) -> Settings:
    return Settings(quick=False, out_dir=out_dir)


def quick_settings(out_dir: Path) -> Settings:
    """A few turns at 1 and 2 concurrent conversations, one pass of console searches; no
    DIET, CV, reference or training."""
    pipelines = [p for p in default_pipelines() if "diet" not in p.config.stem][:1]
    return Settings(
        quick=True, out_dir=out_dir, pipelines=pipelines, folds=0,
        concurrency=(1, 2), worker_concurrency=(), seconds_per_run={1: 4.0, 2: 4.0},
        rounds=1, startup_repeats=1, reference=False, training=False, workers=False,
        profile_seconds=0.0, console_passes=1, answer_sets=("development",), long_turns=30,
    )
