"""Deferred imports (bot/lazy_tensorflow.py) and the lazily read training graph
(bot/lazy_train_schema.py).

The finder is tried on small modules written for each test, which count how often their
code ran; thinc's TensorFlow check runs in a subprocess, where TensorFlow has not run yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.engine.exceptions import GraphSchemaException
from rasa.engine.graph import GraphSchema

from bot.lazy_tensorflow import DeferringFinder
from bot.lazy_train_schema import TrainSchema
from bot.paths import ROOT
from tests.conftest import MODEL

COUNTING_MODULE = """
import builtins
builtins.RUNS = getattr(builtins, "RUNS", 0) + 1
VALUE = 42
"""


@pytest.fixture
def deferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``heavy`` (and ``heavy_user``, which imports it) deferred; ``RUNS`` counts runs."""
    import builtins

    (tmp_path / "heavy.py").write_text(COUNTING_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(builtins, "RUNS", 0, raising=False)
    finder = DeferringFinder(frozenset({"heavy", "failing"}))
    sys.meta_path.insert(0, finder)
    try:
        yield tmp_path
    finally:
        sys.meta_path.remove(finder)
        for name in ("heavy", "failing"):
            sys.modules.pop(name, None)


def runs() -> int:
    import builtins

    return builtins.RUNS


def test_importing_does_not_run_the_module_and_the_first_attribute_does(deferred):
    import heavy
    import heavy as again  # a second import reads heavy.__spec__ only

    assert again is heavy and runs() == 0
    assert heavy.__spec__.name == "heavy" and runs() == 0
    assert heavy.VALUE == 42 and runs() == 1
    assert heavy.VALUE == 42 and type(heavy).__name__ == "module" and runs() == 1


def test_from_import_runs_it_and_attributes_set_before_are_kept(deferred):
    import heavy

    heavy.EXTRA = "set before"
    from heavy import VALUE

    assert VALUE == 42 and heavy.EXTRA == "set before" and runs() == 1


def test_two_threads_see_the_module_run_once_and_whole(deferred):
    (deferred / "heavy.py").write_text(
        COUNTING_MODULE + "import time\ntime.sleep(0.3)\nLAST = 'done'\n", encoding="utf-8"
    )
    import heavy

    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(heavy.LAST)) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert seen == ["done", "done"] and runs() == 1


def test_a_module_that_fails_leaves_sys_modules_like_a_failed_import(deferred):
    (deferred / "failing.py").write_text("raise RuntimeError('broken')\n", encoding="utf-8")
    import failing

    with pytest.raises(RuntimeError, match="broken"):
        failing.anything  # noqa: B018
    assert "failing" not in sys.modules


def test_only_the_listed_modules_are_deferred(deferred):
    (deferred / "eager.py").write_text(COUNTING_MODULE, encoding="utf-8")
    try:
        import eager  # noqa: F401

        assert runs() == 1
    finally:
        sys.modules.pop("eager", None)


def metadata() -> dict:
    with tarfile.open(MODEL) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("metadata.json"))
        return json.load(archive.extractfile(member))


def test_the_training_graph_is_rasas_own_when_read():
    serialized = metadata()["train_schema"]
    schema = TrainSchema(serialized)
    assert "_nodes" not in schema.__dict__  # nothing imported yet
    eager = GraphSchema.from_dict(json.loads(json.dumps(serialized)))
    assert schema == eager and eager == schema
    assert schema.nodes == eager.nodes and schema.as_dict() == eager.as_dict()
    assert any(n.uses.__name__ == "DefaultV1RecipeValidator" for n in schema.nodes.values())


def test_a_training_graph_naming_a_missing_module_fails_the_load_at_once():
    serialized = metadata()["train_schema"]
    node = next(iter(serialized["nodes"].values()))
    node["uses"] = "bot.no_such_module.Component"
    with pytest.raises(GraphSchemaException, match="no_such_module"):
        TrainSchema(serialized)


THINC_CHECK = """
import json, sys
from bot import lazy_tensorflow
lazy_tensorflow.install()
from bot.nlu.entities import get_nlp
doc = get_nlp()("商户号849581058120003，手机13812345678")
import thinc.compat, thinc.util
before = lazy_tensorflow.tensorflow_ran()
facts = {
    "ents": [e.label_ for e in doc.ents],
    "ran_before": before,
    "has_tensorflow": thinc.compat.has_tensorflow and thinc.util.has_tensorflow,
    "same_module": thinc.compat.tensorflow is sys.modules["tensorflow"],
    "gpu": thinc.compat.has_tensorflow_gpu,
    "ran_after": lazy_tensorflow.tensorflow_ran(),
}
print(json.dumps(facts))
"""


def test_spacy_runs_without_tensorflow_and_thinc_still_finds_it():
    result = subprocess.run(
        [sys.executable, "-c", THINC_CHECK], cwd=ROOT, capture_output=True, text=True,
        timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["ents"], "the entity pipeline found nothing"
    assert facts["ran_before"] is False
    # Thinc sees what it sees without the deferral: TensorFlow installed, no GPU here;
    # counting GPUs is what starts TensorFlow.
    assert facts["has_tensorflow"] is True and facts["same_module"] is True
    assert facts["gpu"] is False and facts["ran_after"] is True
