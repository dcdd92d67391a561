"""`/dealwatch ...` answers in Block Kit, from the read models `dealwatch show` prints from, so
the numbers are the same: the index, the watchlist, a company, a deal, the review queue."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from dealwatch.services import read_models as views
from dealwatch.services.read_models import billions, money

HELP = (
    "*/dealwatch* answers only you:\n"
    "• `index [as-of YYYY-MM-DD]`: index, HHI, absorptions, top incumbents\n"
    "• `watchlist`: burn statuses, critical first\n"
    "• `company SLUG`: status, runway, deals with sources\n"
    "• `deal ID`: the record, its corrections and lineage\n"
    "• `review`: pending items, oldest first\n"
    "• `silence RULE[:SUBJECT] 7d` and `unsilence RULE[:SUBJECT]` (reviewers)"
)
EMPTY = "No projection yet: run `dealwatch worker` (or `dealwatch demo`)."


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}


def answer(text: str) -> tuple[str, list[dict]]:
    return text, [_section(text)]


def index(url: str, as_of: dt.date | None) -> tuple[str, list[dict]]:
    found = views.index_at(url, as_of)
    if found is None:
        return answer(EMPTY)
    top = "\n".join(
        f"• {name}: {billions(capital)} ({views.share(found, capital)})"
        for name, capital in found.by_incumbent[:5]
    )
    text = (
        f"*Consolidation index as of {found.as_of}* ({found.window_days}-day window)\n"
        f"index (incumbent share of capital): *{found.idx:.1f}*\n"
        f"HHI (0-10,000): *{found.hhi:,}*\n"
        f"incumbent capital {billions(found.incumbent_capital_usd)} of "
        f"{billions(found.total_capital_usd)}\n"
        f"startups absorbed by incumbents: {found.absorptions}\n"
        f"*Top incumbents*\n{top or '(none)'}"
    )
    return answer(text)


def _runway(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} months"


def watchlist(url: str, status: str | None = None) -> tuple[str, list[dict]]:
    rows = views.watchlist(url, status)
    if not rows:
        return answer(EMPTY if status is None else f"No company is {status}.")
    lines = [
        f"• *{company}* {state}: burn {money(burn)}/month, cash {money(cash)}, "
        f"runway {_runway(runway)}"
        for company, state, burn, cash, runway, _ in rows[:40]
    ]
    more = f"\n…and {len(rows) - 40} more" if len(rows) > 40 else ""
    return answer(f"*Burn watchlist as of {rows[0][5]}*\n" + "\n".join(lines) + more)


def company(url: str, slug: str) -> tuple[str, list[dict]]:
    facts = views.company_facts(url, slug)
    if not facts.rows:
        return answer(f"No company `{slug}` in the projections.")
    values = dict(zip(facts.columns, facts.rows[0], strict=True))
    runway = views.runway(url, slug)
    status = values.get("status") or "-"
    burn = (
        f"burn {money(runway[1])}/month, cash {money(runway[2])}, runway {_runway(runway[3])}"
        if runway
        else "no burn figures"
    )
    deals = views.company_deals(url, slug).rows
    listed = "\n".join(
        f"• {date} {kind} `{rid}` {', '.join(json.loads(parties))} {money(amount)}"
        + (f" <{source.split(' ')[0]}|source>" if source and "://" in source else "")
        for date, kind, rid, parties, amount, source in deals[:20]
    )
    text = (
        f"*{values['name']}* (`{slug}`, {values['role']}, {values.get('country') or '-'})\n"
        f"status: *{status}*"
        + (f" by {values['absorbed_by']}" if values.get("absorbed_by") else "")
        + f"\n{burn}\ntotal raised {money(values.get('total_raised_usd'))}, last valuation "
        f"{money(values.get('last_valuation_usd'))}\n*Deals*\n{listed or '(none)'}"
    )
    return answer(text)


def _fields(record: dict[str, Any]) -> str:
    shown = {k: v for k, v in record.items() if v not in (None, [], False) and k != "id"}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def deal(url: str, record_id: str) -> tuple[str, list[dict]]:
    found = views.deal(url, record_id)
    if found is None:
        return answer(f"No record `{record_id}` in the projections.")
    state = "retracted" if found.retracted else _fields(found.record or {})
    history = "\n".join(
        f"• {e['reported']} {e['kind']} `{e['event_id'][:8]}`: "
        + (_fields(e["record"].get("fields") or {}) if e["kind"] == "correction" else "the record")
        + (f" ({e['record']['source'][:200]})" if e["record"].get("source") else "")
        for e in found.events
    )
    lineage = ", ".join(f"`{i[:8]}`" for i in found.lineage[:10])
    text = (
        f"*Record `{record_id}`* (effective)\n{state}\n*Events, in log order*\n{history}\n"
        f"lineage: {lineage}"
    )
    return answer(text)


def review_queue(items: list) -> tuple[str, list[dict]]:
    if not items:
        return answer("The review queue is empty.")
    now = dt.datetime.now(dt.UTC)
    lines = []
    for item in items[:10]:
        queued = item.queued_at
        if queued is not None and queued.tzinfo is None:
            queued = queued.replace(tzinfo=dt.UTC)
        age = f"{(now - queued).days}d" if queued else "-"
        lines.append(f"• `{item.key}` {item.kind}, {age} old: {item.reason[:120]}")
    return answer(f"*{len(items)} pending* (oldest first)\n" + "\n".join(lines))
