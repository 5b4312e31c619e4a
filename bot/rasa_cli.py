"""``python -m bot.rasa_cli run [options]``: Rasa's own command line, TensorFlow deferred.

``make run`` (bot.launcher), the tests and ``make bench`` start our Rasa server this way;
the production replica (bot.ops.rasa_server) defers TensorFlow the same way. TensorFlow
runs only if the model (or anything else) uses it (bot/lazy_tensorflow.py), and the
objects loaded with the model are set aside from the garbage collector (bot/gc_settle.py).
"""

from __future__ import annotations

from bot import gc_settle, lazy_tensorflow


def main() -> None:
    lazy_tensorflow.install()  # before Rasa is imported
    gc_settle.install()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
