"""Keep TensorFlow out of the Rasa server until something really uses it.

TensorFlow is about 440 MiB of a Rasa 3.6 server's memory, and no component of our model
uses it (docs/benchmarks.md, "Memory"). Rasa runs it anyway, for three reasons that
``install()`` handles, each time by running the real code later, on first use:

- **Modules that need TensorFlow when imported.** Rasa modules on the way to the model
  loader define Keras subclasses; ``import tensorflow`` runs all of TensorFlow. A finder
  in front of ``sys.meta_path`` imports the modules in ``DEFERRED`` as the real module
  whose code runs on its first attribute access, as ``importlib.util.LazyLoader`` does.
  Unlike ``LazyLoader``, ``__spec__`` is answered without running the module (``import
  x`` of a module already in ``sys.modules`` reads it, so the second ``import
  tensorflow`` would run it), the code runs under a lock (a second thread waits instead
  of seeing a half-run module), and a module whose code fails leaves ``sys.modules`` as
  a failed import does. Submodules are never deferred: TensorFlow imports as usual.
- **Thinc (under spaCy) calls TensorFlow when imported** to count GPUs, if TensorFlow is
  installed. ``thinc.compat`` runs with TensorFlow hidden; then it gets the deferred
  ``tensorflow`` and ``has_tensorflow = True`` (what it found before), and
  ``has_tensorflow_gpu`` is counted when first read. Nothing in spaCy's CPU pipeline
  reads them; Thinc's TensorFlow wrappers do, and start TensorFlow then.
- **A loaded model's training graph names TensorFlow classes.** Rasa imports the class
  of every training node when it reads a model's metadata, and the recipe validator's
  module imports DIETClassifier and TEDPolicy. Serving uses only the prediction graph,
  so the training graph's classes are imported when it is first used
  (bot/lazy_train_schema.py).

A model with DIETClassifier or TEDPolicy imports TensorFlow when its graph is built,
exactly as before; ours never does (tests/unit/test_lazy_tensorflow.py).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

# Top-level packages that run TensorFlow, and the Rasa modules that import parts of it
# (callbacks subclassing Keras) on the way from `rasa run` to loading a model.
DEFERRED = frozenset({
    "tensorflow",
    "tensorflow_addons",
    "tensorflow_hub",
    "tensorflow_text",
    "keras",
    "rasa.utils.train_utils",
})
THINC_COMPAT = "thinc.compat"

_RUN_LOCK = threading.RLock()


class _DeferredModule(types.ModuleType):
    """A module whose code has not run yet; it runs on the first attribute access."""

    def __getattribute__(self, attr: str) -> Any:
        if attr != "__spec__":
            with _RUN_LOCK:  # other threads wait here while the module runs
                if object.__getattribute__(self, "__class__") is _DeferredModule:
                    if id(self) in _running:  # its own code, in the thread running it
                        return types.ModuleType.__getattribute__(self, attr)
                    _run(self)
        return types.ModuleType.__getattribute__(self, attr)

    def __delattr__(self, attr: str) -> None:
        getattr(self, attr)  # runs the module (and raises if there is no such attribute)
        delattr(self, attr)


_running: set[int] = set()


def _run(module: types.ModuleType) -> None:
    """Run the module's code now, keeping attributes set on it since it was imported."""
    spec = object.__getattribute__(module, "__spec__")
    before = spec.loader_state
    changed = {key: value for key, value in object.__getattribute__(module, "__dict__").items()
               if key not in before or before[key] is not value}
    _running.add(id(module))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if sys.modules.get(spec.name) is module:
            del sys.modules[spec.name]
        raise
    finally:
        _running.discard(id(module))
        module.__class__ = types.ModuleType  # from here on, attribute access is plain
    module.__dict__.update(changed)


class _DeferringLoader(importlib.abc.Loader):
    """Creates the module as the real loader does, and leaves running it for later."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        spec = module.__spec__
        spec.loader = module.__loader__ = self.loader
        spec.loader_state = dict(module.__dict__)
        module.__class__ = _DeferredModule


def _thinc_has_tensorflow_gpu(name: str) -> Any:
    """``thinc.compat.has_tensorflow_gpu``, counted (starting TensorFlow) when first read."""
    compat = sys.modules[THINC_COMPAT]
    if name != "has_tensorflow_gpu":
        raise AttributeError(f"module {THINC_COMPAT!r} has no attribute {name!r}")
    import tensorflow.experimental.dlpack  # noqa: F401  (what thinc.compat imports)

    value = len(compat.tensorflow.config.get_visible_devices("GPU")) > 0
    compat.has_tensorflow_gpu = value
    return value


class _ThincCompatLoader(importlib.abc.Loader):
    """Runs ``thinc.compat`` with TensorFlow hidden, then hands it the deferred module."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__.loader = module.__loader__ = self.loader
        if tensorflow_ran():
            self.loader.exec_module(module)
            return
        saved = sys.modules.get("tensorflow", _MISSING)
        sys.modules["tensorflow"] = None  # type: ignore[assignment]  # `import` raises
        try:
            self.loader.exec_module(module)
        finally:
            if saved is _MISSING:
                del sys.modules["tensorflow"]
            else:
                sys.modules["tensorflow"] = saved
        try:
            tensorflow = importlib.import_module("tensorflow")  # deferred: does not run it
        except ImportError:
            return  # not installed: thinc.compat found that out itself
        module.tensorflow = tensorflow
        module.has_tensorflow = True
        del module.has_tensorflow_gpu
        module.__getattr__ = _thinc_has_tensorflow_gpu  # type: ignore[attr-defined]


_MISSING = object()


class DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds the ``DEFERRED`` modules (and ``thinc.compat``) with the other finders and
    gives them the loaders above."""

    def __init__(self, names: frozenset[str] = DEFERRED) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names and fullname != THINC_COMPAT:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if hasattr(spec.loader, "exec_module") and spec.loader_state is None:
                if fullname == THINC_COMPAT:
                    spec.loader = _ThincCompatLoader(spec.loader)
                else:
                    spec.loader = _DeferringLoader(spec.loader)
            return spec
        return None



def install() -> None:
    """Defer TensorFlow in this process; call it before Rasa or spaCy is imported."""
    if not any(isinstance(finder, DeferringFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, DeferringFinder())
    from bot import lazy_train_schema  # imports Rasa: after the finder is in place

    lazy_train_schema.install()


def tensorflow_ran() -> bool:
    """True once TensorFlow's code has run in this process."""
    return "tensorflow.python" in sys.modules
