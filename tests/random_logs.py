"""Random logs for the property tests (hypothesis): records of every kind over a few
companies, corrections of every kind (unknown and invalid ones included), re-sent duplicates,
arrival orders over two partitions, batch boundaries, projector ticks, a registry role change
and an evaluation day that moves."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import strategies as st

from dealwatch.events.envelope import DealEvent
from dealwatch.events.records import parse_record
from dealwatch.projections.effective import LoggedEvent

DAY = dt.date(2024, 12, 31)
STARTUPS = ["alpha", "beta", "gamma", "delta"]
INCUMBENTS = ["bigco", "megacorp"]
INVESTORS = ["fund", "bigco", "megacorp", "angel"]

dates = st.dates(dt.date(2024, 6, 1), dt.date(2025, 1, 10))
money = st.sampled_from([0, 1e6, 5e8, 1e9, 2.5e9, 7e7])


@st.composite
def records(draw, index: int) -> dict:
    kind = draw(
        st.sampled_from(
            ["funding", "funding", "layoff", "licensing", "acquisition", "financials", "probe"]
        )
    )
    record = {
        "id": f"r{index}",
        "kind": kind,
        "date": draw(dates).isoformat(),
        "company": draw(st.sampled_from(STARTUPS)),
    }
    if draw(st.booleans()):
        record["reported"] = (
            dt.date.fromisoformat(record["date"]) + dt.timedelta(days=draw(st.integers(0, 60)))
        ).isoformat()
    if kind == "funding":
        record |= {
            "amount_usd": draw(money),
            "investors": draw(st.lists(st.sampled_from(INVESTORS), max_size=3, unique=True)),
        }
    elif kind == "layoff":
        record |= {
            "pct": draw(st.sampled_from([5, 20, 35])),
            "headcount": draw(st.sampled_from([10, 150])),
        }
    elif kind == "licensing":
        record |= {
            "licensee": draw(st.sampled_from(INVESTORS)),
            "fee_usd": draw(st.one_of(st.none(), money)),
            "staff_moved_pct": draw(st.sampled_from([10, 50, 80])),
            "founders_joined": draw(st.booleans()),
        }
    elif kind == "acquisition":
        record |= {"acquirer": draw(st.sampled_from(INVESTORS)), "price_usd": draw(money)}
    elif kind == "financials":
        record |= {
            "costs_annual_usd": draw(st.sampled_from([1.2e8, 3e8])),
            "revenue_annual_usd": draw(st.sampled_from([0, 5e7, 4e8])),
            "cash_usd": draw(st.one_of(st.none(), st.sampled_from([2e7, 1e8, 6e8]))),
        }
    else:
        record |= {"authority": "FTC", "action": draw(st.sampled_from(["opened", "closed"]))}
    return record


@st.composite
def corrections(draw, targets: list[str], index: int) -> dict:
    target = draw(st.sampled_from([*targets, "missing"]))
    correction = {
        "id": f"c{index}",
        "kind": "correction",
        "corrects": target,
        "reported": draw(dates).isoformat(),
    }
    change = draw(st.sampled_from(["retract", "amount", "date", "company", "invalid"]))
    if change == "retract":
        correction["retract"] = True
    elif change == "amount":
        correction["fields"] = {"amount_usd": draw(money)}
    elif change == "date":
        correction["fields"] = {"date": draw(dates).isoformat()}
    elif change == "company":
        correction["fields"] = {"company": draw(st.sampled_from(STARTUPS))}
    else:
        correction["fields"] = {"pct": 250}
    return correction


@st.composite
def logs(draw):
    """Events in arrival order over two partitions, with duplicates and batch boundaries."""
    base = [draw(records(i)) for i in range(draw(st.integers(3, 20)))]
    fixes = [draw(corrections([r["id"] for r in base], i)) for i in range(draw(st.integers(0, 6)))]
    events = [DealEvent.of(parse_record(r)) for r in base + fixes]
    events += draw(st.lists(st.sampled_from(events), max_size=3))  # re-sent duplicates
    order = draw(st.permutations(events))
    offsets = [0, 0]
    logged = []
    for event in order:
        partition = draw(st.integers(0, 1))
        logged.append(LoggedEvent(event, (partition, offsets[partition])))
        offsets[partition] += 1
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(logged) - 1)), max_size=8))))
    bounds = [0, *cuts, len(logged)]
    batches = [logged[a:b] for a, b in itertools.pairwise(bounds) if a < b]
    ticks = draw(st.lists(st.booleans(), min_size=len(batches), max_size=len(batches)))
    live = draw(st.lists(st.booleans(), min_size=len(batches), max_size=len(batches)))
    roles = {s: "startup" for s in STARTUPS} | {"fund": "investor", "angel": "investor"}
    roles |= {i: "incumbent" for i in INCUMBENTS}
    flip = draw(st.sampled_from([None, "bigco", "fund"]))  # a role change between batches
    shift = draw(st.sampled_from([0, 0, -40, 25]))  # the evaluation day moves at the end
    return batches, ticks, live, roles, flip, draw(st.integers(0, len(batches))), shift


def registry_rows(roles: dict[str, str]) -> list[dict]:
    return [
        {"slug": s, "name": s.title(), "role": r, "country": "US"} for s, r in sorted(roles.items())
    ]
