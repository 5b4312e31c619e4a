"""Base class for our NLU components that have nothing to configure or train."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import fingerprint


class StatelessComponent(GraphComponent):
    """Created from no configuration. Preprocessors also change the training data, so
    that the classifier learns from text shaped exactly like what it will see."""

    preprocesses_training_data = False

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Our helper modules and data files (bot.nlu.fingerprint)."""
        return fingerprint.digest()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> StatelessComponent:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        if self.preprocesses_training_data:
            self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        raise NotImplementedError
