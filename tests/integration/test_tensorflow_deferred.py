"""TensorFlow stays out of our Rasa server, and still loads for a model that uses it.

The signal is the process's memory map: TensorFlow's native libraries (under
site-packages/tensorflow/) are mapped once its code has run (checked on a process that
trains DIETClassifier, below). bot/lazy_tensorflow.py says how the import is deferred.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest
import requests

from bot.paths import ROOT

pytestmark = pytest.mark.server


def tensorflow_mapped(pid: int) -> bool:
    """True if TensorFlow's native code is loaded in process ``pid``."""
    return any(f"{os.sep}tensorflow{os.sep}" in m.path
               for m in psutil.Process(pid).memory_maps())


def test_our_rasa_server_answers_without_ever_running_tensorflow(running_bot):
    sender = f"tf-{uuid.uuid4().hex[:8]}"
    replies = []
    for text in ("你好", "需要哪些资料", "我要解绑", "849581058120003", "算了，不办了"):
        response = requests.post(running_bot.rest_url, json={"sender": sender,
                                                             "message": text}, timeout=60)
        response.raise_for_status()
        replies.append(response.json())
    assert all(replies), f"a turn went unanswered: {replies}"
    assert "商户号" in replies[2][0]["text"]
    assert running_bot.rasa_pid and not tensorflow_mapped(running_bot.rasa_pid)


DOMAIN = """
version: "3.1"
intents: [greet, goodbye]
responses:
  utter_greet: [{text: "您好"}]
  utter_goodbye: [{text: "再见"}]
"""
NLU = """
version: "3.1"
nlu:
- intent: greet
  examples: |
    - 你好
    - 您好
    - 早上好
    - 你好啊
- intent: goodbye
  examples: |
    - 再见
    - 拜拜
    - 回头见
    - 再见啦
stories:
- story: greet
  steps: [{intent: greet}, {action: utter_greet}]
- story: goodbye
  steps: [{intent: goodbye}, {action: utter_goodbye}]
"""
CONFIG = """
recipe: default.v1
language: zh
assistant_id: tf-transparency
pipeline:
  - name: JiebaTokenizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 2
  - name: DIETClassifier
    epochs: 1
    random_seed: 1
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
"""
# TEDPolicy takes the same path as DIET (rasa.utils.tensorflow, a deferred module) and
# would double this test's time (≈ 80 s more to build and trace its graph, twice).
# Trains (when asked) and then loads the model and answers; prints what it saw.
PREDICT = """
import asyncio, json, sys
from pathlib import Path
if sys.argv[1] == "deferred":
    from bot import lazy_tensorflow
    lazy_tensorflow.install()
project = Path(sys.argv[2])
model = project / "models" / "tf.tar.gz"
if sys.argv[3] == "train":
    from rasa.model_training import train
    result = train(str(project / "domain.yml"), str(project / "config.yml"),
                   [str(project / "data.yml")], output=str(project / "models"),
                   fixed_model_name="tf")
    assert result.code == 0, result
from rasa.core.agent import Agent
from rasa.shared.core.events import ActionExecuted
agent = Agent.load(str(model))
async def talk():
    parsed = await agent.parse_message("你好")
    replies = await agent.handle_text("拜拜", sender_id="t")
    tracker = await agent.tracker_store.retrieve("t")
    policies = [e.policy for e in tracker.events if isinstance(e, ActionExecuted) and e.policy]
    return parsed, replies, policies
parsed, replies, policies = asyncio.run(talk())
print(json.dumps({
    "ranking": [[r["name"], round(r["confidence"], 6)] for r in parsed["intent_ranking"]],
    "replies": [r.get("text") for r in replies], "policies": policies,
    "tensorflow_ran": "tensorflow.python" in sys.modules,
    "mapped": any("/tensorflow/" in line for line in open("/proc/self/maps")),
}))
"""


def predict(mode: str, project: Path, step: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
           "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run([sys.executable, "-c", PREDICT, mode, str(project), step],
                            cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_tensorflow_model_trains_and_predicts_the_same_with_the_deferral(tmp_path):
    for name, text in (("domain.yml", DOMAIN), ("data.yml", NLU), ("config.yml", CONFIG)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    deferred = predict("deferred", tmp_path, "train")
    plain = predict("plain", tmp_path, "load")
    assert deferred["tensorflow_ran"] and deferred["mapped"]  # the signal above holds
    assert {name for name, _ in deferred["ranking"]} == {"greet", "goodbye"}
    assert any("MemoizationPolicy" in policy for policy in deferred["policies"])
    # The same model answers the same with and without the deferral.
    assert deferred["ranking"] == plain["ranking"]
    assert deferred["replies"] == plain["replies"] and deferred["policies"] == plain["policies"]
