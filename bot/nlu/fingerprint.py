"""What our NLU components read besides their class and the training data, as one digest.

Rasa reuses a training node's output from its cache (``.rasa/cache``) while the node's
class source, configuration and inputs are unchanged. Our components also read helper
modules (``bot/nlu/*.py``: the clause splitter, the normaliser's tables) and data files
(``data/dialect.yml``, ``data/homophones.yml``, the jieba dictionary, the entity
patterns) that are none of those: a changed dialect table or dictionary was trained with
the old one, and Rasa's ``JiebaTokenizer`` even packed the old dictionary into the new
model. Each of our components, and ``DomainJiebaTokenizer``, adds this digest to its
fingerprint (``fingerprint_addon``), so any such change trains them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from bot.paths import ROOT

INPUTS = ("bot/nlu", "data/dialect.yml", "data/homophones.yml", "data/impatience.yml",
          "data/dictionaries", "data/entities")
"""Files and folders (searched recursively) whose contents the digest covers."""


def _files(root: Path) -> Iterator[Path]:
    for name in INPUTS:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in path.rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)


def digest(root: Path = ROOT) -> str:
    """SHA-256 over the relative path and contents of every file of ``INPUTS``."""
    sha = hashlib.sha256()
    for path in sorted(_files(root)):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0")
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()
