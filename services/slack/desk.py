"""The desk's handlers: review buttons and modals, `/dealwatch`, alert buttons, App Home. Every
decision takes the path `dealwatch review accept|reject` and `dealwatch alerts silence` take,
with the deciding Slack user recorded; anyone not in DEALWATCH_REVIEWERS is refused politely
and nothing is emitted."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.alerts import silences
from dealwatch.alerts.blocks import SILENCE, WHY
from dealwatch.events.errors import RecordError
from dealwatch.events.records import parse_record
from dealwatch.services import read_models
from dealwatch.services.config import Settings
from dealwatch.services.db.engine import session_factory
from dealwatch.services.db.models import Alert
from dealwatch.services.logs import one_line
from dealwatch.services.slack import answers, home
from dealwatch.services.slack.review_blocks import (
    ACCEPT,
    EDIT,
    EDIT_VIEW,
    REJECT,
    REJECT_VIEW,
    WHY_BLOCK,
    WHY_INPUT,
    edit_modal,
    edits_from,
    reject_modal,
)
from dealwatch.services.slack.reviewers import Reviewers
from dealwatch.services.slack.sync import update_decided
from dealwatch.services.sources import review
from dealwatch.services.sources.review import AlreadyDecided, ReviewError

log = logging.getLogger("dealwatch.slack")
SILENCE_FOR = dt.timedelta(days=7)


def _said_on_failure(handler):
    """A button's handler that fails (the database away, the broker refusing) tells the person
    so, in one line, instead of leaving the click unanswered. A claim whose record was refused
    is released (services/sources/review.py); a decision that was recorded shows on the post
    at the channel's next upkeep."""

    @functools.wraps(handler)
    async def answered(self, ack, body, client, respond):
        try:
            await handler(self, ack, body, client, respond)
        except Exception as error:
            log.warning("%s failed: %s", handler.__name__, one_line(error))
            await self._tell(respond, f"Sorry, that did not finish: {one_line(error)}. A "
                                      "decision taken shows on the post; else try again in a "
                                      "moment.")  # fmt: skip

    return answered


def decider(user: dict[str, Any]) -> str:
    """How a Slack user is recorded as the decider: `slack:U123 (name)`."""
    name = user.get("username") or user.get("name")
    return f"slack:{user['id']}" + (f" ({name})" if name else "")


class Desk:
    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings, self.engine = settings, engine
        self.reviewers = Reviewers(settings.dealwatch_reviewers)
        self.url = settings.database_url

    def register(self, app: AsyncApp) -> None:
        app.action(ACCEPT)(self.on_accept)
        app.action(EDIT)(self.on_edit)
        app.action(REJECT)(self.on_reject)
        app.view(EDIT_VIEW)(self.on_edit_submitted)
        app.view(REJECT_VIEW)(self.on_reject_submitted)
        app.command("/dealwatch")(self.on_command)
        app.action(SILENCE)(self.on_silence)
        app.action(WHY)(self.on_why)
        app.event("app_home_opened")(self.on_home)

    async def _refused(self, client: AsyncWebClient, user: dict, respond=None) -> bool:
        if await self.reviewers.may_decide(client, user["id"]):
            return False
        log.info("refused a decision from %s: not a reviewer", user["id"])
        if respond is not None:
            await respond(text=self.reviewers.refusal(), response_type="ephemeral",
                          replace_original=False)  # fmt: skip
        return True

    async def _tell(self, respond, text: str) -> None:
        await respond(text=text, response_type="ephemeral", replace_original=False)

    # --- the review desk ---------------------------------------------------------------------

    @_said_on_failure
    async def on_accept(self, ack, body, client, respond) -> None:
        await ack()
        if await self._refused(client, body["user"], respond):
            return
        key = body["actions"][0]["value"]
        try:
            record_id = await review.accept(
                self.settings, self.engine, key, {}, decider(body["user"])
            )
        except AlreadyDecided as error:
            await self._tell(respond, f"Already decided: {error}")
        except ReviewError as error:
            await self._tell(respond, f"Not accepted: {error}. Use *Edit* to complete it.")
        else:
            log.info("%s accepted %s: record %s", body["user"]["id"], key, record_id)
        await update_decided(self.engine, client, key)

    @_said_on_failure
    async def on_edit(self, ack, body, client, respond) -> None:
        await self._open_modal(ack, body, client, respond, edit_modal)

    async def on_edit_submitted(self, ack, body, view, client) -> None:
        key, user = view["private_metadata"], body["user"]
        if not await self.reviewers.may_decide(client, user["id"]):
            await ack(
                response_action="errors", errors={_first_input(view): self.reviewers.refusal()}
            )
            return
        item = await review.get_item(self.engine, key)
        edits = edits_from(view["state"], json.loads(item.draft))
        record = review.record_of(item, edits, decider(user), self.settings.today())
        try:
            parse_record(record)
        except RecordError as error:
            block = _block_for(str(error), view)
            await ack(response_action="errors", errors={block: f"Refused: {error}"[:150]})
            return
        await ack()
        try:
            record_id = await review.accept(self.settings, self.engine, key, edits, decider(user))
        except ReviewError as error:
            await client.chat_postMessage(channel=user["id"], text=f"Not accepted: {error}")
        else:
            log.info("%s accepted %s with edits %s: record %s", user["id"], key, edits, record_id)
        await update_decided(self.engine, client, key)

    @_said_on_failure
    async def on_reject(self, ack, body, client, respond) -> None:
        await self._open_modal(ack, body, client, respond, reject_modal)

    async def _open_modal(self, ack, body, client, respond, modal) -> None:
        """Edit and Reject open a modal on a pending item (for a reviewer)."""
        await ack()
        if await self._refused(client, body["user"], respond):
            return
        key = body["actions"][0]["value"]
        item = await review.get_item(self.engine, key)
        if not review.decidable(item):
            await self._tell(respond, f"Already decided: {AlreadyDecided(item)}")
            return
        await client.views_open(trigger_id=body["trigger_id"], view=modal(item, key))

    async def on_reject_submitted(self, ack, body, view, client) -> None:
        key, user = view["private_metadata"], body["user"]
        if not await self.reviewers.may_decide(client, user["id"]):
            await ack(response_action="errors", errors={WHY_BLOCK: self.reviewers.refusal()})
            return
        why = (view["state"]["values"].get(WHY_BLOCK, {}).get(WHY_INPUT) or {}).get("value") or ""
        if not why.strip():
            await ack(response_action="errors", errors={WHY_BLOCK: "Say why it is not a record."})
            return
        await ack()
        try:
            await review.reject(self.engine, key, why.strip(), decider(user))
        except ReviewError as error:
            await client.chat_postMessage(channel=user["id"], text=f"Not rejected: {error}")
        await update_decided(self.engine, client, key)

    # --- /dealwatch ---------------------------------------------------------------------------

    async def on_command(self, ack, command, client) -> None:
        words = (command.get("text") or "").split()
        verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
        user = {"id": command["user_id"], "name": command.get("user_name")}
        try:
            text, blocks = await self._answer(verb, args, user, client)
        except Exception as error:  # an answer that fails must still say so in Slack
            log.exception("/dealwatch %s failed", verb)
            text, blocks = answers.answer(f"Sorry, that failed: {error}")
        await ack(text=text, blocks=blocks, response_type="ephemeral")

    async def _answer(self, verb: str, args: list[str], user: dict, client):
        url = self.url
        if verb == "index":
            day = None
            if args[:1] == ["as-of"] and len(args) == 2:
                day = dt.date.fromisoformat(args[1])
            elif args:
                return answers.answer("Usage: `/dealwatch index [as-of YYYY-MM-DD]`")
            return await asyncio.to_thread(answers.index, url, day)
        if verb == "watchlist":
            return await asyncio.to_thread(answers.watchlist, url)
        if verb == "company" and len(args) == 1:
            return await asyncio.to_thread(answers.company, url, args[0])
        if verb == "deal" and len(args) == 1:
            return await asyncio.to_thread(answers.deal, url, args[0])
        if verb == "review":
            return answers.review_queue(await review.list_items(self.engine))
        if verb in ("silence", "unsilence"):
            if not await self.reviewers.may_decide(client, user["id"]):
                return answers.answer(self.reviewers.refusal())
            return await self._silence(verb, args, user)
        return answers.answer(answers.HELP)

    async def _silence(self, verb: str, args: list[str], user: dict):
        sessions = session_factory(self.engine)
        if verb == "unsilence" and len(args) == 1:
            rule, subject = await silences.unsilence(sessions, args[0])
            return answers.answer(f"`{rule}:{subject}` is no longer silenced.")
        if verb == "silence" and len(args) in (1, 2):
            try:
                span = silences.parse_duration(args[1]) if len(args) == 2 else SILENCE_FOR
            except silences.DurationError as error:
                return answers.answer(str(error))
            until = dt.datetime.now(dt.UTC) + span
            rule, subject = await silences.silence(sessions, args[0], until, decider(user))
            return answers.answer(f"Silenced `{rule}:{subject}` until {until:%Y-%m-%d %H:%M} UTC.")
        return answers.answer("Usage: `/dealwatch silence RULE[:SUBJECT] 7d`, `unsilence RULE`")

    # --- alerts ---------------------------------------------------------------------------------

    @_said_on_failure
    async def on_silence(self, ack, body, client, respond) -> None:
        await ack()
        if await self._refused(client, body["user"], respond):
            return
        target = body["actions"][0]["value"]
        until = dt.datetime.now(dt.UTC) + SILENCE_FOR
        sessions = session_factory(self.engine)
        rule, subject = await silences.silence(sessions, target, until, decider(body["user"]))
        await self._tell(respond, f"Silenced `{rule}:{subject}` until {until:%Y-%m-%d %H:%M} UTC.")

    async def on_why(self, ack, body, respond) -> None:
        await ack()
        key = body["actions"][0]["value"]
        async with session_factory(self.engine)() as session:
            alert = (await session.execute(select(Alert).where(Alert.alert_key == key))).scalar()
        if alert is None:
            await self._tell(respond, f"No alert `{key}` in the outbox.")
            return
        lineage = json.loads(alert.lineage)
        found = await asyncio.to_thread(read_models.lineage_sources, self.url, lineage)
        lines = [f"• `{rid}` (event `{eid[:8]}`): {source[:200]}" for eid, rid, source in found]
        text = f"*Why `{alert.rule}` fired for `{alert.subject}`*: the records behind it\n"
        await self._tell(respond, text + ("\n".join(lines) or "(no lineage recorded)"))

    # --- App Home -------------------------------------------------------------------------------

    async def on_home(self, event, client) -> None:
        view = await home.view(self.settings, self.engine, client)
        await client.views_publish(user_id=event["user"], view=view)


def _first_input(view: dict) -> str:
    return next((b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"), "x")


def _block_for(reason: str, view: dict) -> str:
    """The modal block of the field the record's validation named, else the first input."""
    for block in view.get("blocks", []):
        block_id = block.get("block_id", "")
        if block_id.startswith("field:") and block_id.split(":", 1)[1] in reason:
            return block_id
    return _first_input(view)
