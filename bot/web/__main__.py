"""`python -m bot.web`: serve the web app (default http://127.0.0.1:8000)."""

from __future__ import annotations

import argparse

from bot.web.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.web")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    create_app().run(host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
