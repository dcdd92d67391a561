"""Announcements into deal drafts (docs/sources.md, "Announcements"): the labelled corpus of
real items meets its targets, and the rules that decide money, investors and kind hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from dealwatch.events.feed import Accepted, read_registry
from dealwatch.services.seed import SEED_REGISTRY
from dealwatch.sources.amounts import find_amounts
from dealwatch.sources.announcements import Draft, NotADeal, read_announcement
from dealwatch.sources.evaluation import evaluate_announcements, read_corpus
from dealwatch.sources.names import Resolver

CORPUS = Path(__file__).parent / "fixtures" / "corpus" / "announcements.jsonl"


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(p.record for p in read_registry(SEED_REGISTRY) if isinstance(p, Accepted))


def test_the_corpus_meets_the_targets(resolver: Resolver) -> None:
    """At least 90 % detected with the right kind, at least 80 % fully prefilled, and no
    investor invented (a wrong party is worse than a missing one)."""
    items = list(read_corpus(CORPUS.read_text(encoding="utf-8").splitlines(), str(CORPUS)))
    deals = [i for i in items if i["expected"]["kind"]]
    assert len(items) >= 40 and len(deals) >= 29
    tally = evaluate_announcements(items, resolver)
    assert tally.counts["kind"]["right"] >= 0.9 * len(items)
    assert tally.counts["prefilled"]["right"] >= 0.8 * len(deals)
    assert tally.counts["investors"]["wrong"] == 0
    assert tally.wrong == []


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("raised $6.6 billion at a $157 billion valuation", [(6.6e9, "USD"), (157e9, "USD")]),
        ("a $3.5B Series E", [(3.5e9, "USD")]),
        ("US$1.3 billion", [(1.3e9, "USD")]),
        ("€600 million", [(600e6, "EUR")]),
        ("600 mln euros ($643.7 million)", [(600e6, "EUR"), (643.7e6, "USD")]),
        ("£1.2bn", [(1.2e9, "GBP")]),
        ("a $1,300,000 seed", [(1.3e6, "USD")]),
        ("it costs $3 a month", []),
    ],
)
def test_money_as_written(text: str, values: list[tuple[float, str]]) -> None:
    assert [(round(a.value, 1), a.currency) for a in find_amounts(text)] == values


def _draft(resolver: Resolver, title: str, text: str, owner: str | None = None) -> Draft:
    found = read_announcement(title, text, resolver, owner)
    assert isinstance(found, Draft), found
    return found


def test_a_running_total_is_not_a_new_round(resolver: Resolver) -> None:
    draft = _draft(
        resolver,
        "Amazon and Anthropic deepen their shared commitment",
        "Amazon will invest an additional $4 billion in Anthropic. This brings Amazon's total "
        "investment in Anthropic to $8 billion.",
    )
    assert draft.record() | {"note": None} == {
        "kind": "funding", "company": "anthropic", "amount_usd": 4e9, "investors": ["amazon"],
        "note": None,
    }  # fmt: skip
    assert draft.confident


def test_up_to_is_a_commitment_and_the_first_tranche_is_the_round(resolver: Resolver) -> None:
    draft = _draft(
        resolver,
        "Google to invest up to $2 billion in Anthropic",
        "The investment includes $500 million upfront and $1.5 billion over time.",
    )
    assert (draft.value("amount_usd"), draft.value("investors")) == (5e8, ["alphabet"])
    assert "first tranche" in draft.record()["note"]


def test_a_name_in_no_registry_entry_is_shown_with_the_nearest_never_dropped(
    resolver: Resolver,
) -> None:
    draft = _draft(
        resolver,
        "Acme raises",
        "Anthropic has raised $100 million in a round led by Ligthspeed Venture Partners, with "
        "participation from Jane Street.",
    )
    assert draft.value("investors") is None  # neither name is matched automatically
    assert draft.unmatched == ["Ligthspeed Venture Partners", "Jane Street"]
    assert draft.near["Ligthspeed Venture Partners"] == ["lightspeed"]  # shown to a person
    assert "named but not in the registry" in draft.record()["note"]
    assert draft.complete and not draft.confident  # a person looks before it is emitted
    assert draft.evidence()["unmatched"]["Jane Street"] == []


def test_we_in_a_newsroom_is_its_owner(resolver: Resolver) -> None:
    draft = _draft(resolver, "New funding", "We've raised $6.6B in new funding.", owner="openai")
    assert draft.value("company") == "openai"
    assert draft.fields["company"].confidence == 0.85


def test_a_reverse_acquihire_is_a_licensing_draft(resolver: Resolver) -> None:
    draft = _draft(
        resolver,
        "Microsoft and Inflection AI",
        "Co-founders Mustafa Suleyman and Karén Simonyan will join Microsoft. Microsoft will pay "
        "Inflection AI a $650 million licensing fee.",
    )
    assert draft.record() == {
        "kind": "licensing", "company": "inflection", "licensee": "microsoft",
        "fee_usd": 6.5e8, "founders_joined": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Hello GPT-4o", "Our new flagship model reasons across audio, vision and text."),
        ("Introducing Claude 3.5 Sonnet", "It outperforms competitor models."),
        ("The Anthropic Economic Index", "A first report on how Claude is used."),
        # talks and plans are no deal yet (the blind batch read them as rounds)
        ("Google in talks to invest $200 million into AI startup", "Cohere is the startup."),
        ("OpenAI seeks $40 billion in new funding", "SoftBank would lead."),
        ("AI start-up Anthropic closes in on $60bn valuation", "A $2bn investment."),
        ("Stability AI explores a sale", "Investors pressure the CEO."),
    ],
)
def test_product_news_is_no_deal(resolver: Resolver, title: str, text: str) -> None:
    assert isinstance(read_announcement(title, text, resolver), NotADeal)
