"""A change to a file our NLU components read trains them again, not from Rasa's cache."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
import yaml
from rasa.engine.training.fingerprinting import calculate_fingerprint_key

from bot.nlu import fingerprint
from bot.paths import ROOT


def _copy_inputs(target: Path) -> None:
    for name in fingerprint.INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / name)


@pytest.mark.parametrize("changed", ["data/dialect.yml", "data/dictionaries/jieba_domain.txt",
                                     "bot/nlu/clauses.py", "data/homophones.yml"])
def test_the_digest_follows_every_file_the_components_read(tmp_path: Path, changed: str) -> None:
    _copy_inputs(tmp_path)
    before = fingerprint.digest(tmp_path)
    assert fingerprint.digest(tmp_path) == before  # nothing changed, nothing moves
    path = tmp_path / changed
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n# 改\n")
    assert fingerprint.digest(tmp_path) != before


def _our_pipeline_classes() -> list[type]:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    classes = []
    for step in config["pipeline"]:
        module, _, name = step["name"].rpartition(".")
        if module.startswith("bot."):
            classes.append(getattr(importlib.import_module(module), name))
    return classes


def test_every_component_of_ours_carries_the_digest_into_rasas_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    classes = _our_pipeline_classes()
    names = {cls.__name__ for cls in classes}
    assert {"DomainJiebaTokenizer", "TextNormaliser", "TfidfIntentClassifier"} <= names
    for cls in classes:
        monkeypatch.setattr(fingerprint, "digest", lambda: "one")
        first = calculate_fingerprint_key(cls, {"x": 1}, {"data": "same"})
        assert calculate_fingerprint_key(cls, {"x": 1}, {"data": "same"}) == first
        monkeypatch.setattr(fingerprint, "digest", lambda: "two")
        assert calculate_fingerprint_key(cls, {"x": 1}, {"data": "same"}) != first, cls
