"""Regulators' actions, closings before openings (docs/sources.md): graded on the labelled
corpus of real items in tests/fixtures/corpus/, and on the wordings that used to misfire."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dealwatch.events.feed import Accepted, read_registry
from dealwatch.services.seed import SEED_REGISTRY
from dealwatch.sources.evaluation import evaluate_regulators, read_corpus
from dealwatch.sources.names import Resolver
from dealwatch.sources.regulator_actions import decide_action

CORPUS = Path(__file__).parent / "fixtures" / "corpus" / "regulators.jsonl"


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(p.record for p in read_registry(SEED_REGISTRY) if isinstance(p, Accepted))


def test_the_corpus_has_no_wrong_action_and_finds_every_party(resolver: Resolver) -> None:
    items = list(read_corpus(CORPUS.read_text(encoding="utf-8").splitlines(), str(CORPUS)))
    assert len(items) >= 60
    tally = evaluate_regulators(items, resolver)
    assert tally.wrong == []
    assert tally.counts["action"]["right"] == len(items)
    assert tally.counts["parties"]["right"] == len(items)


@pytest.mark.parametrize(
    ("title", "summary", "action"),
    [
        # the ending is tried before the opening words it quotes
        (
            "CMA closes its inquiry into a cloud partnership",
            "The merger inquiry is closed.",
            "closed",
        ),
        (
            "Amazon / Anthropic partnership merger inquiry",
            "The partnership does not qualify for investigation.",
            "cleared",
        ),
        (
            "CMA clears deal following its invitation to comment",
            "The CMA invited comments in April.",
            "cleared",
        ),
        ("FTC ends its investigation of a chatbot maker", "", "closed"),
        ("Merger inquiry", "No further action will be taken.", "closed"),
        # openings the old rules sent to review
        ("CMA seeks views on a partnership", "", "opened"),
        ("Commission accepts referral request from Italy", "", "opened"),
        ("Commission launches calls for contributions on generative AI", "", "opened"),
        ("A partnership", "The CMA invites comments from any interested party.", "opened"),
        # escalations before openings
        ("Commission opens in-depth investigation into an acquisition", "", "expanded"),
        ("FTC issues second request", "", "expanded"),
        # the blind batch of 32 (docs/sources.md): a title's "probe" yields to the summary's step
        ("EU to probe a $61B acquisition", "It opened an in-depth investigation.", "expanded"),
        ("A regulator confirms deeper probe", "", "expanded"),
        ("Chipmaker hit with subpoenas in growing antitrust investigation", "", "expanded"),
        ("CMA orders Meta to sell Giphy", "", "blocked"),
        ("Meta agrees to sell Giphy", "Meta must sell Giphy to an approved buyer.", "blocked"),
        ("Statement on the investigation", "The CMA will cancel its investigation.", "closed"),
        ("FTC asks Amazon for details on a deal", "", "opened"),
        ("A company faces an antitrust probe, report says", "", "opened"),
        # background set in the past is not the item's act
        (
            "Amazon misses EU deadline",
            "after the bloc had raised concerns in an in-depth look",
            None,
        ),
    ],
)
def test_actions_in_the_spec_order(title: str, summary: str, action: str | None) -> None:
    assert decide_action(title, summary).action == action


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("FTC Issues Staff Report on AI Partnerships & Investments Study", "6(b) orders found"),
        ("Statement on a technology company's review", "Remarks concerning Nvidia."),
        ("Paper on foundation models", "The investigation powers of the CMA apply."),
    ],
)
def test_reports_and_statements_open_nothing(title: str, summary: str) -> None:
    verdict = decide_action(title, summary)
    assert verdict.action is None
    assert verdict.because


def test_sources_evaluate_prints_the_tally_as_a_user_runs_it(tmp_path: Path) -> None:
    done = _evaluate(CORPUS)
    assert done.returncode == 0, done.stderr
    assert "action" in done.stdout and "parties" in done.stdout
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(
        '{"authority": "FTC", "title": "FTC Launches Inquiry into X", '
        '"url": "https://example.org/x", '
        '"expected": {"action": "closed", "parties": []}}\n'
    )
    graded = _evaluate(wrong)
    assert graded.returncode == 1
    assert "wrong https://example.org/x" in " ".join(graded.stdout.split())
    broken = tmp_path / "broken.jsonl"
    broken.write_text(wrong.read_text() + "not json\n")
    refused = _evaluate(broken)
    assert refused.returncode == 1
    assert f"{broken}:2: not JSON" in " ".join(refused.stderr.split())


def _evaluate(corpus: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dealwatch", "sources", "evaluate", str(corpus)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
