"""The App Home tab: the current index and HHI with the series chart (the PNG `show --plot`
draws, uploaded to Slack once per projection day), the watchlist's critical entries and the
pending reviews."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.services import read_models
from dealwatch.services.config import Settings
from dealwatch.services.slack import answers
from dealwatch.services.sources.review import list_items

log = logging.getLogger("dealwatch.slack")
_charts: dict[str, str] = {}  # projection day -> uploaded file id


async def view(settings: Settings, engine: AsyncEngine, client: AsyncWebClient) -> dict:
    url = settings.database_url
    found = await asyncio.to_thread(read_models.index_at, url, None)
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": "dealwatch"}},
    ]
    if found is None:
        blocks += answers.answer(answers.EMPTY)[1]
    else:
        blocks += answers.index(url, None)[1]
        chart = await _chart(str(found.as_of), client)
        if chart:
            blocks.append(
                {
                    "type": "image",
                    "slack_file": {"id": chart},
                    "alt_text": "consolidation index and HHI over time",
                }
            )
        critical = await asyncio.to_thread(answers.watchlist, url, "critical")
        blocks += [{"type": "divider"}, *critical[1]]
    pending = answers.review_queue(await list_items(engine))
    blocks += [{"type": "divider"}, *pending[1]]
    return {"type": "home", "blocks": blocks}


async def _chart(day: str, client: AsyncWebClient) -> str | None:
    """The series chart's Slack file id, drawn and uploaded once per projection day."""
    if day in _charts:
        return _charts[day]
    from dealwatch.services.commands.show import plot_series

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"consolidation-{day}.png"
        await asyncio.to_thread(plot_series, path)
        try:
            uploaded = await client.files_upload_v2(
                file=str(path), filename=path.name, title=f"Consolidation as of {day}"
            )
        except SlackApiError as error:
            log.warning("the chart was not uploaded: %s", error.response.get("error"))
            return None
    file_id = uploaded["file"]["id"]
    _charts.clear()
    _charts[day] = file_id
    return file_id
