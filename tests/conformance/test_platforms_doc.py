"""docs/platforms.md names, per endpoint, the corpus files that back it: every file in the corpus."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.corpus import SAMPLES

DOC = Path(__file__).parents[2] / "docs" / "platforms.md"


def test_every_corpus_file_is_named_in_docs_platforms() -> None:
    text = DOC.read_text()
    files = sorted(SAMPLES.glob("*/*.json"))
    assert len(files) > 30  # both marketplaces' corpora are there
    unnamed = [f"{path.parent.name}/{path.name}" for path in files if f"`{path.stem}`" not in text]
    assert unnamed == [], f"name these in docs/platforms.md's corpus tables: {unnamed}"
