"""NLU quality of each candidate pipeline: hold-out, blind set, cross-validation, fallback.

Every pipeline is trained NLU-only with the training cache disabled (so training times are
comparable), loaded once, and asked to parse every test message in-process; the per-message
parse latency is the wall time of `Agent.parse_message`. The fallback threshold is swept on
the pre-fallback confidence, so one parse per message serves every threshold.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

from bot.bench.settings import BLIND, GIBBERISH, HOLDOUT, NLU_DATA, Pipeline, Settings
from bot.paths import ROOT

FALLBACK = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
Example = tuple[str, str]


@dataclass(frozen=True)
class Prediction:
    """One parsed message: what was expected, what the pipeline said, and how sure it was."""

    text: str
    expected: str
    predicted: str
    top: str
    confidence: float
    seconds: float

    def at(self, threshold: float) -> str:
        """The intent the FallbackClassifier would give at ``threshold``."""
        if self.predicted == "share_secret":
            return self.predicted
        return FALLBACK if self.confidence < threshold else self.top


@dataclass(frozen=True)
class IntentScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """Accuracy, macro-F1 and per-intent scores of one set of predictions."""

    n: int
    accuracy: float
    macro_f1: float
    per_intent: dict[str, IntentScore]
    errors: list[tuple[str, str, str]]

    def of(self, intent: str) -> IntentScore:
        return self.per_intent.get(intent, IntentScore(0.0, 0.0, 0.0, 0))


@dataclass(frozen=True)
class SweepPoint:
    """Scores at one fallback threshold on hold-out + gibberish."""

    threshold: float
    accuracy: float
    in_scope_accuracy: float
    false_fallback_rate: float
    fallback_precision: float
    fallback_recall: float


@dataclass
class PipelineResult:
    """Everything measured for one pipeline."""

    name: str
    config: str
    train_seconds: float
    parse_ms_mean: float
    parse_ms_p95: float
    holdout: Scores
    holdout_predictions: list[Prediction]
    blind: Scores | None = None
    cross_validation: Scores | None = None
    cv_note: str = ""
    sweep: list[SweepPoint] = field(default_factory=list)

    @property
    def best(self) -> SweepPoint | None:
        """Highest accuracy on hold-out + gibberish; ties go to the lower false-fallback rate."""
        if not self.sweep:
            return None
        return max(self.sweep, key=lambda p: (round(p.accuracy, 6), -p.false_fallback_rate))


def load_examples(path: Path) -> list[Example]:
    """(text, intent) pairs of a Rasa NLU YAML file."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def score(predictions: Sequence[Prediction], threshold: float | None = None) -> Scores:
    """Scores as configured, or as if the fallback threshold were ``threshold``."""
    truth = [p.expected for p in predictions]
    guess = [p.predicted if threshold is None else p.at(threshold) for p in predictions]
    labels = sorted(set(truth))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=labels, zero_division=0
    )
    per_intent = {
        label: IntentScore(float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    correct = sum(t == g for t, g in zip(truth, guess, strict=True))
    errors = [
        (p.text, t, g) for p, t, g in zip(predictions, truth, guess, strict=True) if t != g
    ]
    return Scores(
        n=len(truth),
        accuracy=correct / max(len(truth), 1),
        macro_f1=float(f1_score(truth, guess, labels=labels, average="macro", zero_division=0)),
        per_intent=per_intent,
        errors=errors,
    )


def sweep(predictions: Sequence[Prediction], thresholds: Sequence[float]) -> list[SweepPoint]:
    """The fallback trade-off at each threshold."""
    points = []
    in_scope = [p for p in predictions if p.expected != FALLBACK]
    for threshold in thresholds:
        guess = [p.at(threshold) for p in predictions]
        correct = sum(p.expected == g for p, g in zip(predictions, guess, strict=True))
        said_fallback = [p for p, g in zip(predictions, guess, strict=True) if g == FALLBACK]
        is_fallback = [p for p in predictions if p.expected == FALLBACK]
        true_fallback = sum(p.expected == FALLBACK for p in said_fallback)
        points.append(SweepPoint(
            threshold=threshold,
            accuracy=correct / max(len(predictions), 1),
            in_scope_accuracy=sum(p.at(threshold) == p.expected for p in in_scope)
            / max(len(in_scope), 1),
            false_fallback_rate=sum(p.at(threshold) == FALLBACK for p in in_scope)
            / max(len(in_scope), 1),
            fallback_precision=true_fallback / len(said_fallback) if said_fallback else 1.0,
            fallback_recall=true_fallback / len(is_fallback) if is_fallback else 1.0,
        ))
    return points


def most_confused(predictions: Sequence[Prediction], k: int = 12) -> tuple[list[str], list]:
    """The ``k`` intents most involved in errors and their confusion matrix."""
    involvement: dict[str, int] = {}
    for p in predictions:
        if p.expected != p.predicted:
            for label in (p.expected, p.predicted):
                involvement[label] = involvement.get(label, 0) + 1
    labels = sorted(involvement, key=lambda lb: -involvement[lb])[:k]
    if not labels:
        return [], []
    chosen = [p for p in predictions if p.expected in labels or p.predicted in labels]
    matrix = confusion_matrix(
        [p.expected for p in chosen], [p.predicted for p in chosen], labels=labels
    )
    return labels, matrix.tolist()


def train_nlu(config: Path, nlu: Path, out: Path, name: str) -> tuple[Path, float]:
    """Train an NLU-only model without the training cache; return its path and seconds."""
    from rasa.model_training import train_nlu as rasa_train_nlu

    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    start = time.perf_counter()
    model = rasa_train_nlu(str(config), str(nlu), str(out), fixed_model_name=name)
    seconds = time.perf_counter() - start
    if model is None:
        raise RuntimeError(f"training {config} failed")
    return Path(model), seconds


class Parser:
    """A loaded model that parses messages in this process."""

    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent

        self.loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(model))
        self.parse_one("你好")  # warm up lazy loads before timing

    def parse_one(self, text: str) -> dict:
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def predict(self, examples: Sequence[Example], label: str = "parse") -> list[Prediction]:
        predictions = []
        for text, expected in tqdm(examples, desc=label, leave=False, unit="msg"):
            start = time.perf_counter()
            parsed = self.parse_one(text)
            seconds = time.perf_counter() - start
            intent = (parsed.get("intent") or {}).get("name") or FALLBACK
            ranking = [r for r in parsed.get("intent_ranking") or [] if r["name"] != FALLBACK]
            top = ranking[0] if ranking else {"name": intent, "confidence": 0.0}
            predictions.append(Prediction(
                text, expected, intent, top["name"], float(top["confidence"] or 0.0), seconds
            ))
        return predictions

    def close(self) -> None:
        self.loop.close()
        del self.agent
        gc.collect()


def cross_validate(pipeline: Pipeline, folds: int, work: Path) -> Scores:
    """Stratified ``folds``-fold cross-validation of ``pipeline`` on data/nlu."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = load_data(str(NLU_DATA))
    examples = data.intent_examples
    labels = [m.get("intent") for m in examples]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42)
    predictions: list[Prediction] = []
    splits = list(splitter.split(examples, labels))
    for index, (train_idx, test_idx) in enumerate(
        tqdm(splits, desc=f"{folds}-fold CV {pipeline.name}", unit="fold", leave=False)
    ):
        fold = TrainingData(
            training_examples=[examples[i] for i in train_idx],
            entity_synonyms=data.entity_synonyms, regex_features=data.regex_features,
            lookup_tables=data.lookup_tables,
        )
        fold_file = work / f"fold{index}.yml"
        RasaYAMLWriter().dump(fold_file, fold)
        model, _ = train_nlu(pipeline.config, fold_file, work, f"fold{index}")
        parser = Parser(model)
        test = [(examples[i].get("text"), examples[i].get("intent")) for i in test_idx]
        predictions += parser.predict(test, f"fold {index + 1}")
        parser.close()
        model.unlink()
    return score(predictions)


def evaluate_pipeline(pipeline: Pipeline, settings: Settings, work: Path) -> PipelineResult:
    """Train ``pipeline``, then measure it on every test set."""
    holdout = load_examples(HOLDOUT) + load_examples(GIBBERISH)
    model, train_seconds = train_nlu(pipeline.config, NLU_DATA, work, "nlu")
    parser = Parser(model)
    predictions = parser.predict(holdout, f"hold-out {pipeline.name}")
    blind = None
    if BLIND.exists():
        blind = score(parser.predict(load_examples(BLIND), f"blind {pipeline.name}"))
    parser.close()
    latencies = sorted(1000 * p.seconds for p in predictions)
    result = PipelineResult(
        name=pipeline.name,
        config=str(pipeline.config.relative_to(ROOT)),
        train_seconds=train_seconds,
        parse_ms_mean=statistics.fmean(latencies),
        parse_ms_p95=latencies[int(0.95 * (len(latencies) - 1))],
        holdout=score(predictions),
        holdout_predictions=predictions,
        blind=blind,
        sweep=sweep(predictions, settings.thresholds),
    )
    if settings.folds and pipeline.cross_validate:
        result.cross_validation = cross_validate(pipeline, settings.folds, work)
    elif settings.folds:
        result.cv_note = (
            f"skipped: {settings.folds} more trainings of {train_seconds:.0f} s each "
            "on the shared 2-core machine"
        )
    else:
        result.cv_note = "skipped in --quick"
    return result


def evaluate_pipelines(settings: Settings) -> list[PipelineResult]:
    """Every pipeline of ``settings``, in order."""
    results = []
    for pipeline in tqdm(settings.pipelines, desc="NLU pipelines", unit="pipeline"):
        with tempfile.TemporaryDirectory(prefix="bench-nlu-") as work:
            results.append(evaluate_pipeline(pipeline, settings, Path(work)))
    return results


@dataclass(frozen=True)
class EntityResult:
    messages: int
    ms_per_message: float
    micro: tuple[float, float, float]
    per_label: dict[str, tuple[float, float, float, int]]
    errors: int


def evaluate_entities() -> EntityResult:
    """Entity F1 on tests/entities_holdout.yml (bot.nlu.evaluate_entities)."""
    from bot.nlu.entities import LABELS
    from bot.nlu.evaluate_entities import evaluate, load_holdout

    scores = evaluate(load_holdout())
    support = scores.tp + scores.fn
    return EntityResult(
        messages=scores.messages,
        ms_per_message=1000 * scores.seconds / max(scores.messages, 1),
        micro=scores.prf(),
        per_label={label: (*scores.prf(label), support[label]) for label in LABELS},
        errors=len(scores.errors),
    )
