"""Slack messages in Block Kit, built with slack-sdk's models."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

MAX_FIELDS = 10  # Slack's limit for a section


def _lineage(ids: list[str]) -> str:
    shown = ", ".join(f"`{i[:8]}`" for i in ids[:6])
    return shown + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")


SILENCE, WHY = "alert_silence", "alert_why"  # handled by `dealwatch slack` (services/slack)


def render(
    message: str | dict[str, Any], alert_key: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for an outbox message: what happened, figures, source, lineage;
    with `alert_key` (a bot's post), "Silence 7d" and "Why?" buttons for the Slack desk."""
    m = json.loads(message) if isinstance(message, str) else message
    fields = [MarkdownTextObject(text=f"*{name}*\n{value}") for name, value in m["facts"]]
    context = [
        MarkdownTextObject(
            text=f"as of {m['as_of']} · rule `{m['rule']}` · subject `{m['subject']}`"
        )
    ]
    if m.get("source"):
        context.append(MarkdownTextObject(text=f"Source: {m['source'][:300]}"))
    context.append(MarkdownTextObject(text=f"Lineage (event ids): {_lineage(m['lineage'])}"))
    blocks = [HeaderBlock(text=m["title"][:150])]
    if fields:
        blocks.append(SectionBlock(fields=fields[:MAX_FIELDS]))
    blocks += [DividerBlock(), ContextBlock(elements=context)]
    if alert_key:
        blocks.append(
            ActionsBlock(
                block_id="alert",
                elements=[
                    ButtonElement(
                        text="Silence 7d",
                        action_id=SILENCE,
                        value=f"{m['rule']}:{m['subject']}"[:2000],
                    ),
                    ButtonElement(text="Why?", action_id=WHY, value=alert_key[:2000]),
                ],
            )
        )
    facts = "; ".join(f"{name}: {value}" for name, value in m["facts"])
    text = f"{m['title']} ({facts})" if facts else m["title"]
    return text, [b.to_dict() for b in blocks]
