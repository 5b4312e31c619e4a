"""Generated sections of docs/benchmarks.md replace only their own span."""

from pathlib import Path

from bot import docsection


def test_each_generator_replaces_only_its_own_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written\n", encoding="utf-8")
    docsection.write_section(doc, "loadtest", "## Load\n\nrun 1\n")
    docsection.write_section(doc, "stats", "## Stats\n\nfirst\n")
    docsection.write_section(doc, "loadtest", "## Load\n\nrun 2\n")
    text = doc.read_text(encoding="utf-8")
    assert "run 1" not in text and text.count("run 2") == 1
    assert "first" in text and "hand-written" in text
    assert text.index("## Load") < text.index("## Stats")
    assert text.count("<!-- loadtest:start -->") == text.count("<!-- stats:end -->") == 1


def test_a_missing_file_gets_the_section(tmp_path: Path) -> None:
    doc = tmp_path / "new.md"
    docsection.write_section(doc, "long", "## Long\n")
    assert doc.read_text(encoding="utf-8").strip().splitlines() == [
        "<!-- long:start -->", "## Long", "<!-- long:end -->"]
