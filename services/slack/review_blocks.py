"""Review items in Block Kit: the post with its draft, confidences, links and buttons; the
same post once decided; the Edit and Reject modals. Built from the item's stored fields only."""

from __future__ import annotations

import json
from typing import Any

from dealwatch.services.sources.models import ReviewItem

ACCEPT, EDIT, REJECT = "review_accept", "review_edit", "review_reject"
EDIT_VIEW, REJECT_VIEW = "review_edit_submit", "review_reject_submit"
WHY_BLOCK, WHY_INPUT = "why", "why_input"
#: Draft fields a person does not type: set by the source or by dealwatch.
FIXED = {"id", "kind", "source", "reported"}


def _value(value: Any) -> str:
    if isinstance(value, float) and value >= 1e6:
        return f"${value / 1e9:,.2f}B" if value >= 1e9 else f"${value / 1e6:,.1f}M"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def draft_fields(item: ReviewItem) -> list[str]:
    """`*field* value (confidence)` lines, `~` marking a guess, then the unmatched names."""
    draft, context = json.loads(item.draft), json.loads(item.context)
    sure = {n: f["confidence"] for n, f in context.get("fields", {}).items()}
    lines = []
    for name, value in draft.items():
        if name in FIXED:
            continue
        confidence = f" ({sure[name]:.1f})" if name in sure else ""
        guess = "~" if sure.get(name, 1) < 0.8 else ""
        lines.append(f"{guess}*{name}* {_value(value)}{confidence}")
    for name, near in context.get("unmatched", {}).items():
        lines.append(
            f"? *{name}* not in the registry" + (f" (near: {', '.join(near)})" if near else "")
        )
    return lines


def _links(item: ReviewItem) -> str:
    context = json.loads(item.context)
    links = context.get("links") or [context.get("link") or item.origin]
    return " · ".join(f"<{link}|source {n}>" for n, link in enumerate(links, start=1))


def _header(item: ReviewItem) -> list[dict]:
    context = json.loads(item.context)
    about = context.get("title") or context.get("issuer") or item.key
    matched = f"\n:link: another sighting of `{context['joins']}`" if "joins" in context else ""
    return [
        {"type": "header", "text": {"type": "plain_text", "text": f"Review: {item.kind}"[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{about[:300]}*\n{item.reason[:500]}{matched}"},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "\n".join(draft_fields(item))[:2900] or "(empty)"},
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{_links(item)} · key `{item.key}` · {item.source}"}
            ],
        },
    ]


def review_post(item: ReviewItem) -> tuple[str, list[dict]]:
    """(fallback text, blocks) of a pending item, with Accept, Edit and Reject."""
    buttons = [
        {"type": "button", "action_id": ACCEPT, "text": _plain("Accept"), "style": "primary"},
        {"type": "button", "action_id": EDIT, "text": _plain("Edit")},
        {"type": "button", "action_id": REJECT, "text": _plain("Reject"), "style": "danger"},
    ]
    for button in buttons:
        button["value"] = item.key
    blocks = [*_header(item), {"type": "actions", "block_id": "decide", "elements": buttons}]
    return f"Review {item.kind}: {item.reason}", blocks


def decided_post(item: ReviewItem) -> tuple[str, list[dict]]:
    """The post once decided: who, when and the record id (or why), no buttons."""
    when = f"{item.decided_at:%Y-%m-%d %H:%M} UTC" if item.decided_at else "-"
    if item.state == "accepted":
        outcome = (
            f":white_check_mark: Accepted by {item.decided_by} on {when}: record `{item.decision}`"
        )
    elif item.state == "rejected":
        outcome = f":x: Rejected by {item.decided_by} on {when}: {item.decision}"
    else:
        outcome = f":link: {item.state} ({item.decision}) on {when}"
    blocks = [*_header(item), {"type": "section", "text": {"type": "mrkdwn", "text": outcome}}]
    return f"{item.key}: {outcome}", blocks


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def edit_modal(item: ReviewItem, metadata: str) -> dict:
    """One input per draft field, prefilled; values are read as JSON when they parse (numbers,
    lists, true), else as text, exactly as `review accept --set` reads them."""
    draft = json.loads(item.draft)
    inputs = []
    for name, value in draft.items():
        if name in FIXED:
            continue
        shown = value if isinstance(value, str) else json.dumps(value)
        inputs.append(
            {
                "type": "input",
                "block_id": f"field:{name}",
                "optional": True,
                "label": _plain(name),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "initial_value": shown,
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": EDIT_VIEW,
        "private_metadata": metadata,
        "title": _plain("Edit the draft"),
        "submit": _plain("Accept"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"`{item.key}`"}},
            *inputs,
        ],
    }


def reject_modal(item: ReviewItem, metadata: str) -> dict:
    return {
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": metadata,
        "title": _plain("Reject"),
        "submit": _plain("Reject"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"`{item.key}`"}},
            {
                "type": "input",
                "block_id": WHY_BLOCK,
                "label": _plain("Why is it not a record?"),
                "element": {"type": "plain_text_input", "action_id": WHY_INPUT, "multiline": True},
            },
        ],
    }


def edits_from(view_state: dict, draft: dict) -> dict[str, Any]:
    """The modal's changed fields, typed as `--set` types them (JSON when it parses)."""
    edits: dict[str, Any] = {}
    for block_id, actions in view_state.get("values", {}).items():
        if not block_id.startswith("field:"):
            continue
        name = block_id.split(":", 1)[1]
        text = (actions.get("value") or {}).get("value")
        if text is None or text == "":
            edits[name] = None
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if value != draft.get(name):
            edits[name] = value
    return edits
