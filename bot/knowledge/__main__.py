"""`python -m bot.knowledge sync-guide`: rebuild data/knowledge/guide.txt."""

from __future__ import annotations

import argparse

from bot.knowledge.guide import GUIDE_PATH, GuideFixes, read_raw_guide, sanitise


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.knowledge")
    parser.add_argument("command", choices=["sync-guide"])
    parser.parse_args()
    GUIDE_PATH.write_text(sanitise(read_raw_guide(), GuideFixes.load()), encoding="utf-8")
    print(f"wrote {GUIDE_PATH}")


if __name__ == "__main__":
    main()
