"""A static member that stops on purpose leaves its group at once.

Kafka keeps a static member (group.instance.id) in its group after the consumer closes, until
its session times out: that is what lets a crashed worker come back to its partitions without
a rebalance. A worker stopped on purpose (scaled down, moved to another database) must not hold
its partitions for a session, so on a clean exit it removes its instance from the group with
LeaveGroup v3 (KIP-345's "remove members"; the request the Java admin client's
`removeMembersFromConsumerGroup` sends). aiokafka speaks only v0/v1, which name a member id and
cannot remove a static member, so the v3 structures are declared here from the protocol spec.
A crash (SIGKILL) sends nothing, which is what keeps a restart fast.
"""

from __future__ import annotations

import asyncio
import atexit
import logging

import aiokafka.errors as Errors
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

from dealwatch.services.config import Settings
from dealwatch.services.kafka.clients import client_kwargs

log = logging.getLogger("dealwatch.worker")


class LeaveGroupResponse_v3(Response):
    API_KEY = 13
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        (
            "members",
            Array(
                ("member_id", String("utf-8")),
                ("group_instance_id", String("utf-8")),
                ("error_code", Int16),
            ),
        ),
    )


class LeaveGroupRequest_v3(RequestStruct):
    API_KEY = 13
    API_VERSION = 3
    RESPONSE_TYPE = LeaveGroupResponse_v3
    SCHEMA = Schema(
        ("group", String("utf-8")),
        ("members", Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")))),
    )


class RemoveStaticMember(Request[LeaveGroupRequest_v3]):
    """LeaveGroup v3 naming one instance (an empty member id: "whichever member it is")."""

    API_KEY = 13

    def __init__(self, group: str, instance_id: str) -> None:
        self.group = group
        self.instance_id = instance_id

    def build(self, request_struct_class: type[LeaveGroupRequest_v3]) -> LeaveGroupRequest_v3:
        return request_struct_class(self.group, [("", self.instance_id)])


async def leave_group(settings: Settings, instance_id: str) -> bool:
    """Remove `instance_id` from the workers' group; True when the broker removed it."""
    client = AIOKafkaClient(**client_kwargs(settings))
    await client.bootstrap()
    try:
        group = settings.group_id()
        node = await client.coordinator_lookup(CoordinationType.GROUP, group)
        response = await client.send(node, RemoveStaticMember(group, instance_id))
        errors = [response.error_code] + [member[2] for member in response.members]
        failed = [Errors.for_code(code).__name__ for code in errors if code]
        if failed:
            log.info("leaving group %s as %s: %s", group, instance_id, ", ".join(failed))
        return not failed
    finally:
        await client.close()


def leave_on_clean_exit(settings: Settings, instance_id: str | None) -> None:
    """At a clean exit of this process (Faust's stop on SIGTERM or Ctrl-C), remove the static
    member; nothing runs on SIGKILL. Bounded: a broker that is gone costs 10 s at most."""
    if instance_id is None:
        return

    def leave() -> None:
        try:
            asyncio.run(asyncio.wait_for(leave_group(settings, instance_id), 10))
        except (Errors.KafkaError, OSError, TimeoutError) as error:
            log.warning("could not leave group as %s: %s", instance_id, error)

    atexit.register(leave)
