"""Rasa 3.6 graph component that adds the rule-based entities of :mod:`bot.nlu.entities`.

config.yml::

    pipeline:
      - name: bot.nlu.spacy_entity_extractor.SpacyEntityExtractor
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import ENTITY_ATTRIBUTE_CONFIDENCE_TYPE
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.entities import extract_entities, get_nlp
from bot.nlu.stateless import StatelessComponent


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class SpacyEntityExtractor(StatelessComponent, EntityExtractorMixin):
    """Extracts merchant_id, serial_number, phone and ticket_no with spaCy rules.

    No options: the patterns live in data/entities/patterns.jsonl.
    """

    @staticmethod
    def required_packages() -> list[str]:
        """Packages needed to run this component."""
        return ["spacy", "jieba"]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SpacyEntityExtractor:
        """Create the component and build the (cached) spaCy pipeline eagerly."""
        get_nlp()
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Append the extracted entities to each message's ``entities``."""
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text:
                continue
            entities = self.add_extractor_name(
                [
                    {
                        ENTITY_ATTRIBUTE_TYPE: entity.label,
                        ENTITY_ATTRIBUTE_VALUE: entity.value,
                        ENTITY_ATTRIBUTE_START: entity.start,
                        ENTITY_ATTRIBUTE_END: entity.end,
                        ENTITY_ATTRIBUTE_CONFIDENCE_TYPE: 1.0,
                    }
                    for entity in extract_entities(text)
                ]
            )
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages
