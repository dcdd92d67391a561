"""What a regulator's item says it did to a case: `blocked`, `cleared`, `closed`, `expanded` or
`opened`, by word rules in a fixed order (docs/sources.md, "Regulators' actions").

The words that open a case also appear when it ends ("closes its inquiry", "does not qualify
for investigation", "following its invitation to comment"), so the endings are tried first, and
a false `opened` (which reaches Slack) is avoided even at the cost of a review item:
- the title decides first, the summary second; the first rule that matches wins;
- a title that reads only as an opening yields to a summary that names another step (a title
  such as "Microsoft / Inflection inquiry" over a summary saying the CMA cleared it; "EU to
  probe ..." over "opened an in-depth investigation");
- words set in the past as background ("after ... had raised concerns in an in-depth
  investigation", "following its invitation to comment") are not the item's act;
- a report, paper or statement opens nothing by itself: an item whose title is one, and whose
  words read only as an opening, goes to review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RULES: tuple[tuple[str, str], ...] = (
    (
        "blocked",
        r"\b(blocks?|blocked|prohibit(s|ed|ion)?|sues? to block|seeks? to block|"
        r"challenges? .{0,60}(acquisition|merger|deal)|order(s|ed)?\b.{0,40}\bto (sell|divest)|"
        r"sell .{0,40}to an approved buyer|divest(ment|iture) order)\b",
    ),
    (
        "cleared",
        r"\b(clears?|cleared|approves?|approved|unconditional(ly)?|accepts? (commitments|"
        r"undertakings)|does not qualify for (review|investigation)|"
        r"not (a|to be a) relevant merger situation|no (competition|antitrust) concerns|"
        r"not (to )?refer(red)? .{0,40}phase 2|will not (be )?refer|green light|"
        r"grants? (its )?(consent|approval)|does not (include|constitute|amount to) .{0,40}"
        r"(acquisition|merger|concentration|deal)|will not be subject to .{0,40}"
        r"(investigation|review)|(not|no longer) (to )?(open|launch|pursue) .{0,20}"
        r"(investigation|inquiry|probe))\b",
    ),
    (
        "closed",
        r"\b((clos(es|ed|ing)|ends?|ended|drops?|dropped|conclud(es|ed)|terminat(es|ed)|"
        r"cancel(s|led)?|discontinu(es|ed)) "
        r"(its |the |an |a |this )?(\w+ ){0,3}(case|inquiry|investigation|probe|study|review)|"
        r"no further action|final report|(case|investigation|inquiry) (is |was |has been )?"
        r"closed|(investigation|inquiry|review) will (be )?discontinue)\b",
    ),
    (
        "expanded",
        r"\b(phase (2|two|ii)|in-depth|statement of objections|second request|"
        r"refer(s|red)? .{0,60}(in-depth|phase 2)|expands? (its )?(investigation|inquiry|probe)|"
        r"deeper (probe|investigation|look)|deepens? .{0,20}(probe|investigation)|"
        r"growing (\w+ )?investigation|ramp(s|ed)? up|escalat(es|ed|ing) (its )?(\w+ )?"
        r"(probe|investigation|inquiry))\b",
    ),
    (
        "opened",
        r"\b(inquiry|investigation|investigates|investigating|probes?|orders? issued|"
        r"issue[sd]? (special |6\(b\) )?orders|6\(b\) orders?|(examin|check|review)ing whether|"
        r"invit(es|ation) (to comment|comments?|views)|"
        r"invites? (interested parties )?to comment|seeks? (comments|views|information)|"
        r"(asks?|asked|requests?|requested) .{0,40}\b(details|information)|"
        r"calls? for (contributions|information|views|evidence|comments)|"
        r"referral (request )?accepted|accepts? .{0,40}referral|to assess|"
        r"opens?|opened|launch(es|ed)? .{0,40}(inquiry|investigation|probe|study|review))\b",
    ),
)
ACTIONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (action, re.compile(pattern, re.IGNORECASE)) for action, pattern in _RULES
)
ENDINGS = frozenset({"blocked", "cleared", "closed"})
#: Titles of items that report or comment rather than act.
PAPERS = re.compile(
    r"\b(report(?! says)|paper|policy brief|research|findings|statement|remarks|speech|blog|"
    r"guidance|principles|update on|publishes)\b",
    re.IGNORECASE,
)


#: Steps inside a case already open: a consultation on remedies or on a party's submission.
STEPS = re.compile(
    r"\bconsult(s|ation|ing)?\b.{0,60}\b(submission|remed\w*|undertakings?|commitments?|"
    r"change of circumstances)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """The action (None: a person decides) and the words it rests on, or why there is none."""

    action: str | None
    because: str


#: Words that set what follows in the past, as background ("after the bloc had raised concerns
#: in an in-depth investigation", "following its invitation to comment"): not this item's act.
BACKGROUND = re.compile(r"\b(after|following|since)\b[^.;]{0,80}$", re.IGNORECASE)


def _first_rule(text: str) -> tuple[str, str] | None:
    for action, words in ACTIONS:
        for found in words.finditer(text):
            if not BACKGROUND.search(text[: found.start()]):
                return action, found.group(0)
    return None


def decide_action(title: str, summary: str) -> Verdict:
    """The action of one regulator's item, from its title first and its summary second."""
    in_title = _first_rule(title)
    in_summary = _first_rule(summary)
    if in_title and in_title[0] == "opened" and in_summary and in_summary[0] != "opened":
        in_title = None  # "probe" in the title; the summary tells the step: in-depth, cleared
    found = in_title or in_summary
    if found is None:
        return Verdict(None, "the action is unclear")
    action, words = found
    if action == "opened" and STEPS.search(title):
        return Verdict(None, f"a consultation on a step of a case ({words!r}) opens nothing")
    if action == "opened" and PAPERS.search(title):
        return Verdict(None, f"a report or statement ({words!r}) opens nothing by itself")
    where = "title" if found is in_title else "summary"
    return Verdict(action, f"{words!r} in the {where}")
