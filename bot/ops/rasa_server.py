"""``python -m bot.ops.rasa_server [rasa run options]``: one Rasa replica of the profile.

The HTTP API is on only behind ``--auth-token``, and the token is read from
``RASA_AUTH_TOKEN`` here instead of the command line, so it never shows in ``ps``.
The logging configuration is validated first: Rasa ignores a broken one silently.
TensorFlow is deferred and the model's objects set aside from the garbage collector as in
``make run`` (bot/rasa_cli.py, bot/lazy_tensorflow.py, bot/gc_settle.py).
"""

from __future__ import annotations

import logging.config
import os
import sys
from collections.abc import Sequence

import yaml

from bot import gc_settle, lazy_tensorflow
from bot.ops.settings import MIN_TOKEN_CHARS


def main(argv: Sequence[str] | None = None) -> None:
    lazy_tensorflow.install()  # before Rasa is imported
    gc_settle.install()
    args = list(sys.argv[1:] if argv is None else argv)
    token = os.environ.get("RASA_AUTH_TOKEN", "").strip()
    if len(token) < MIN_TOKEN_CHARS:
        sys.exit(f"RASA_AUTH_TOKEN must be set (at least {MIN_TOKEN_CHARS} characters)")
    if "--logging-config-file" in args:
        path = args[args.index("--logging-config-file") + 1]
        with open(path, encoding="utf-8") as handle:
            logging.config.dictConfig(yaml.safe_load(handle))
        # Rasa installs coloredlogs on the root logger after applying the file
        # (rasa/__main__.py); keep the JSON handlers instead.
        import rasa.utils.io

        rasa.utils.io.configure_colored_logging = lambda *_: None
    # Rasa's own INFO/DEBUG lines can quote what a merchant typed: WARNING by default.
    os.environ["LOG_LEVEL"] = os.environ.get("RASA_LOG_LEVEL", "WARNING")
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", "run", "--enable-api", *args, "--auth-token", token]
    rasa_main()


if __name__ == "__main__":
    main()
