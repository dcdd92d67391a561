"""The sources file is checked as a whole before anything runs: every problem names the source
and the key, in words, with no traceback; ordinary YAML (an unquoted date) just works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dealwatch.services.sources.config import EXAMPLE_SOURCES, SourcesFileError, load_sources

HEAD = 'contact: "Example Research research@example.com"\nsources:\n'


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def test_the_shipped_example_loads() -> None:
    config = load_sources(EXAMPLE_SOURCES)
    assert {s.kind for s in config.sources} == {"sec_formd", "press", "layoffs"}


@pytest.mark.parametrize("written", ["2025-03-14", '"2025-03-14"', "'2025-03-14'"])
def test_a_start_day_quoted_or_not(tmp_path: Path, written: str) -> None:
    path = _file(tmp_path, f"  - name: sec\n    kind: sec_formd\n    start: {written}\n")
    assert load_sources(path).get("sec").start == "2025-03-14"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "kind: sec_formd\n    start: 2025-13-01",
            "source 1 (sec): 'start': a day like 2025-03-14",
        ),
        ("kind: sec_formd\n    timeout: soon", "source 1 (sec): 'timeout': a number, got 'soon'"),
        ("kind: sec_formd\n    enabled: maybe", "'enabled': true or false, got 'maybe'"),
        ("kind: sec_formd\n    every: 60", "'every': text, got 60"),
        ("kind: sec_formd\n    every: often", "'every': a number and a unit, like 30m"),
        ("kind: sec_formd\n    colour: red", "unknown key 'colour' (known: authority,"),
        ("kind: rss", "'kind': Input should be 'sec_formd', 'press' or 'layoffs'"),
        ("kind: press", "a press source needs 'url'"),
        ("kind: press\n    url: ftp://x", "'url': an http:// or https:// address"),
        ("kind: layoffs\n    url: https://x/a.csv", "'mapping' of a layoffs source needs"),
        ("kind: sec_formd\n    requests_per_second: 0", "'requests_per_second': Input should be"),
    ],
)
def test_each_key_is_checked_and_named(tmp_path: Path, entry: str, message: str) -> None:
    path = _file(tmp_path, f"  - name: sec\n    {entry}\n")
    with pytest.raises(SourcesFileError) as raised:
        load_sources(path)
    assert str(raised.value).startswith(f"{path}: source 1")
    assert message in str(raised.value)


def test_whole_file_problems(tmp_path: Path) -> None:
    twice = _file(tmp_path, "  - {name: a, kind: sec_formd}\n  - {name: a, kind: sec_formd}\n")
    with pytest.raises(SourcesFileError, match="source 2 \\(a\\): the name 'a' is used twice"):
        load_sources(twice)
    stray = tmp_path / "stray.yaml"
    stray.write_text("sourcse: []\n")
    with pytest.raises(SourcesFileError, match="unknown top-level key\\(s\\) \\['sourcse'\\]"):
        load_sources(stray)
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: [\n")
    with pytest.raises(SourcesFileError, match=f"{broken}:2: not valid YAML"):
        load_sources(broken)


def test_the_command_says_it_in_one_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "  - name: sec\n    kind: sec_formd\n    start: 2025-02-30\n")
    done = subprocess.run(
        [sys.executable, "-m", "dealwatch", "sources", "backfill", "sec", "--from", "2025-01-01",
         "--to", "2025-01-02"],
        env={"DEALWATCH_SOURCES_FILE": str(path), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "source 1 (sec): 'start': a day like 2025-03-14, got '2025-02-30'" in done.stderr
