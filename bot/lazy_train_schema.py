"""A loaded model's training graph, its component classes imported when first used.

Rasa imports the class of every node of both graphs when it reads a model's metadata
(``ModelMetadata.from_dict``). Serving runs only the prediction graph, but the training
graph of every default-recipe model holds ``DefaultV1RecipeValidator``, whose module
imports DIETClassifier and TEDPolicy and so all of TensorFlow (bot/lazy_tensorflow.py).
``install()`` makes the training graph of a loaded model resolve its classes on first
use, with Rasa's own ``GraphSchema.from_dict``; a class whose module cannot be found
still fails the load at once, with Rasa's error.
"""

from __future__ import annotations

import copy
import importlib.util
from typing import Any

from rasa.engine.exceptions import GraphSchemaException
from rasa.engine.graph import GraphSchema, SchemaNode
from rasa.engine.storage.storage import ModelMetadata

_rasa_metadata_from_dict = ModelMetadata.from_dict.__func__  # type: ignore[attr-defined]
_installed = False


def _module_exists(name: str) -> bool:
    """True if ``name`` can be imported (without running it; its packages are imported)."""
    try:
        return bool(name) and importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class TrainSchema(GraphSchema):
    """``GraphSchema.from_dict(serialized)``, worked out on the first use of ``nodes``."""

    def __init__(self, serialized: dict[str, Any]) -> None:
        for node in serialized["nodes"].values():
            if not _module_exists(str(node["uses"]).rpartition(".")[0]):
                raise GraphSchemaException(
                    "Error deserializing graph schema. Can't find class for graph "
                    f"component type '{node['uses']}'."
                )
        self.__dict__["_serialized"] = copy.deepcopy(serialized)

    @property  # type: ignore[override]
    def nodes(self) -> dict[str, SchemaNode]:
        if "_nodes" not in self.__dict__:
            serialized = copy.deepcopy(self.__dict__["_serialized"])
            self.__dict__["_nodes"] = GraphSchema.from_dict(serialized).nodes
        return self.__dict__["_nodes"]

    @nodes.setter
    def nodes(self, nodes: dict[str, SchemaNode]) -> None:
        self.__dict__["_nodes"] = nodes

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GraphSchema) and self.nodes == other.nodes

    __hash__ = None  # type: ignore[assignment]  # as GraphSchema's


def _metadata_from_dict(cls: type[ModelMetadata], serialized: dict[str, Any]) -> ModelMetadata:
    """Rasa's ``ModelMetadata.from_dict`` with the training graph resolved on first use."""
    metadata = _rasa_metadata_from_dict(cls, {**serialized, "train_schema": {"nodes": {}}})
    metadata.train_schema = TrainSchema(serialized["train_schema"])
    return metadata


def install() -> None:
    """Read models' training graphs this way from now on in this process."""
    global _installed
    if not _installed:
        ModelMetadata.from_dict = classmethod(_metadata_from_dict)  # type: ignore[method-assign]
        _installed = True
