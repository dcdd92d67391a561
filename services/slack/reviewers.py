"""Who may decide: DEALWATCH_REVIEWERS, Slack user ids (U..., W...) and user-group ids (S...).
A group's members are asked of Slack (usergroups.users.list) and kept for a minute."""

from __future__ import annotations

import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

GROUP_TTL = 60.0
REFUSAL = (
    "Sorry, only the reviewers named in DEALWATCH_REVIEWERS can decide here; nothing was "
    "recorded. Ask an admin to add you, or use `dealwatch review` at a terminal."
)
NONE_SET = (
    "Nobody may decide from Slack yet: DEALWATCH_REVIEWERS is empty. Nothing was recorded; "
    "set it to the Slack user or user-group ids who review."
)


class Reviewers:
    def __init__(self, configured: str) -> None:
        ids = [i.strip() for i in configured.split(",") if i.strip()]
        self.users = {i for i in ids if not i.startswith("S")}
        self.groups = [i for i in ids if i.startswith("S")]
        self._members: dict[str, tuple[float, set[str]]] = {}

    @property
    def configured(self) -> bool:
        return bool(self.users or self.groups)

    async def may_decide(self, client: AsyncWebClient, user: str) -> bool:
        if user in self.users:
            return True
        for group in self.groups:
            if user in await self._group(client, group):
                return True
        return False

    def refusal(self) -> str:
        return REFUSAL if self.configured else NONE_SET

    async def _group(self, client: AsyncWebClient, group: str) -> set[str]:
        asked, members = self._members.get(group, (0.0, set()))
        if time.monotonic() - asked < GROUP_TTL:
            return members
        try:
            answer = await client.usergroups_users_list(usergroup=group)
            members = set(answer.get("users") or [])
        except SlackApiError:
            members = set()  # an unknown or deleted group grants nothing
        self._members[group] = (time.monotonic(), members)
        return members
