"""The rules file (YAML): thresholds, enable/disable and channel routing, spec defaults built in.

A bad file is refused at start with `FILE:LINE: reason`. `dealwatch alerts rules-example` prints
the commented example that ships with the package (`EXAMPLE_RULES`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dealwatch.projections.thresholds import Thresholds

EXAMPLE_RULES = Path(__file__).resolve().parent / "rules.example.yaml"


class RulesFileError(ValueError):
    """The rules file cannot be used; the message names the file, the line and the reason."""


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    if value < 0:
        raise ValueError(f"expected a number ≥ 0, got {value!r}")
    return float(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number ≥ 0, got {value!r}")
    return value


def _percent(value: Any) -> float:
    number = _number(value)
    if number > 100:
        raise ValueError(f"expected a percentage 0-100, got {value!r}")
    return number


def _actions(value: Any) -> tuple[str, ...]:
    allowed = {"opened", "expanded", "closed", "cleared", "blocked"}
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of probe actions, got {value!r}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"unknown probe action(s) {unknown}; use {sorted(allowed)}")
    return tuple(value)


# rule -> {key in the file: (Thresholds field, parser)}
KNOBS: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "mega_round": {"min_amount_usd": ("mega_round_usd", _number)},
    "reverse_acquihire": {"min_staff_moved_pct": ("acquihire_staff_pct", _percent)},
    "incumbent_acquisition": {},
    "major_layoff": {
        "min_pct": ("layoff_pct", _percent),
        "min_headcount": ("layoff_headcount", _integer),
    },
    "probe_opened": {"actions": ("probe_actions", _actions)},
    "consolidation_high": {
        "fire_at": ("consolidation_fire", _percent),
        "rearm_below": ("consolidation_rearm", _percent),
    },
    "hhi_concentrated": {
        "fire_above": ("hhi_fire", _integer),
        "rearm_below": ("hhi_rearm", _integer),
    },
    "runway_critical": {},
    "runway_watch": {},
    "digest": {},  # the scheduled digest: only `enabled` and `channel`
}
RULES = tuple(KNOBS)


@dataclass(frozen=True)
class RulesConfig:
    """Thresholds for the pure rules, plus where each rule's alerts go."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    default_channel: str = "#dealwatch"
    channels: dict[str, str] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()

    def is_enabled(self, rule: str) -> bool:
        return rule not in self.disabled

    def channel_for(self, rule: str) -> str:
        return self.channels.get(rule, self.default_channel)


def load_rules(path: Path | None, default_channel: str = "#dealwatch") -> RulesConfig:
    """The spec's defaults, overridden by the rules file at `path` if one is given."""
    if path is None:
        return RulesConfig(default_channel=default_channel)
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise RulesFileError(
            f"{path}: cannot read the rules file: {error.strerror} "
            "(`dealwatch alerts rules-example` prints one to start from)"
        ) from error
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise RulesFileError(
            f"{path}:{line}: not valid YAML: {getattr(error, 'problem', error)}"
        ) from error
    return _Parser(str(path)).config(root, default_channel)


class _Parser:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: yaml.Node, reason: str) -> RulesFileError:
        return RulesFileError(f"{self.path}:{node.start_mark.line + 1}: {reason}")

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping of keys to values")
        return node.value

    def value(self, node: yaml.Node) -> Any:
        return yaml.safe_load(yaml.serialize(node))

    def config(self, root: yaml.Node | None, default_channel: str) -> RulesConfig:
        if root is None:
            return RulesConfig(default_channel=default_channel)
        changes: dict[str, Any] = {}
        channels: dict[str, str] = {}
        disabled: set[str] = set()
        for key, value in self.mapping(root, "the rules file"):
            if key.value == "default_channel":
                default_channel = self.channel(value)
            elif key.value == "rules":
                for rule_key, rule_value in self.mapping(value, "`rules`"):
                    self.rule(rule_key, rule_value, changes, channels, disabled)
            else:
                raise self.fail(key, f"unknown key {key.value!r}; use `default_channel` or `rules`")
        thresholds = dataclasses.replace(
            Thresholds(), **changes, enabled=Thresholds().enabled - disabled
        )
        for rule, fire, rearm in (
            ("consolidation_high", "consolidation_fire", "consolidation_rearm"),
            ("hhi_concentrated", "hhi_fire", "hhi_rearm"),
        ):
            if getattr(thresholds, rearm) > getattr(thresholds, fire):
                raise self.fail(
                    root,
                    f"{rule}: rearm_below ({getattr(thresholds, rearm)}) must not "
                    f"be above the firing line ({getattr(thresholds, fire)})",
                )
        return RulesConfig(thresholds, default_channel, channels, frozenset(disabled))

    def channel(self, node: yaml.Node) -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, f"a channel must be a name like '#deals', got {value!r}")
        return value

    def rule(
        self, key: yaml.Node, node: yaml.Node, changes: dict, channels: dict, disabled: set
    ) -> None:
        rule = key.value
        if rule not in KNOBS:
            raise self.fail(key, f"unknown rule {rule!r}; the rules are {', '.join(RULES)}")
        for knob, value in self.mapping(node, f"rule {rule!r}"):
            if knob.value == "enabled":
                enabled = self.value(value)
                if not isinstance(enabled, bool):
                    raise self.fail(value, f"{rule}.enabled must be true or false")
                if not enabled:
                    disabled.add(rule)
            elif knob.value == "channel":
                channels[rule] = self.channel(value)
            elif knob.value in KNOBS[rule]:
                name, parse = KNOBS[rule][knob.value]
                try:
                    changes[name] = parse(self.value(value))
                except ValueError as error:
                    raise self.fail(value, f"{rule}.{knob.value}: {error}") from error
            else:
                known = ", ".join(["enabled", "channel", *KNOBS[rule]])
                raise self.fail(knob, f"rule {rule!r} has no setting {knob.value!r}; use {known}")
