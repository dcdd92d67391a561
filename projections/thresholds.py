"""Alert thresholds (spec §5 defaults); the rules file in `alerts/` overrides them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thresholds:
    """Every number an alert rule compares against."""

    mega_round_usd: float = 1e9
    acquihire_staff_pct: float = 50
    layoff_pct: float = 20
    layoff_headcount: int = 100
    probe_actions: tuple[str, ...] = ("opened", "expanded")
    consolidation_fire: float = 50
    consolidation_rearm: float = 45
    hhi_fire: int = 1800
    hhi_rearm: int = 1700
    enabled: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {
                "mega_round",
                "reverse_acquihire",
                "incumbent_acquisition",
                "major_layoff",
                "probe_opened",
                "consolidation_high",
                "hhi_concentrated",
                "runway_critical",
                "runway_watch",
            }
        )
    )
