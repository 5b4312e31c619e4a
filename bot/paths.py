"""Well-known paths of the repository."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
VAR = ROOT / "var"
SHARED_GUIDE_DIR = ROOT.parent / "shared" / "guide"
