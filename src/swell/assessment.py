"""One graded assessment of a campaign's coordination signals, read together, with the evidence.

Each signal is set against a reference range: the most that organic campaigns show (`organic`) and
what coordinated ones typically show (`coordinated`). How far a campaign's value goes from the one
towards the other is its part in [0, 1]; the parts combine as independent pieces of evidence,

    score = 1 - prod(1 - weight * part),

so that one strong signal is enough to raise the score and several weak ones add up, and a campaign
run by 48 accounts posting 80% duplicated text can never read "nothing" because its co-action
clusters fall below the strength bar. The score is evidence about the posts, never a verdict about a
person: what organic campaigns typically show is given beside every figure.

The reference ranges were set on data with known answers (README, "The campaign assessment"): the
real organic hashtags of `../shared/data/formats` (34 hashtags of 20 posts or more: the most they
show), the 358 hashtags of the IRA tweets of September 2016 with 20 posts or more and simulated
coordinated pushes (what coordinated campaigns typically show), and simulated grassroots blasts, which
are synchronised by plan and must read as organic. Synchrony is shown and not scored for that reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Fewest posts of a campaign for its assessment to mean what its reference ranges say: they were set
# on hashtags of 20 posts or more (README, "The campaign assessment").
MIN_POSTS = 20
# Fewest accounts with a known creation date for their clustering in time to count.
MIN_DATED_ACCOUNTS = 10
# Fewest accounts for posts per account to count: one or two loud accounts are not a coordinated
# group (three, as the smallest co-action cluster).
MIN_ACCOUNTS = 3


@dataclass(frozen=True)
class Reference:
    """A signal of `campaign_signals` and its reference range."""

    signal: str
    label: str
    organic: float  # the most organic campaigns show
    coordinated: float  # what coordinated campaigns typically show
    weight: float  # how much the signal alone can say
    meaning: str


REFERENCES = (
    Reference(
        "share_by_coordinated_accounts",
        "posts by accounts of coordinated clusters",
        0.02,
        0.30,
        1.0,
        "accounts that repeatedly repost the same posts, post the same texts, share the same links or reply to the "
        "same posts within the window, at the strength bar or above",
    ),
    Reference(
        "share_by_accounts_coordinated_in_collection",
        "posts by accounts coordinated across the collection",
        0.02,
        0.30,
        1.0,
        "the same bar, over everything the campaign's accounts posted in the collection, not only in the campaign: "
        "accounts that carry many hashtags together post once or twice in each",
    ),
    Reference(
        "share_by_clustered_accounts",
        "posts by accounts of any co-action cluster",
        0.05,
        0.50,
        0.6,
        "the same, for every cluster, below the strength bar too",
    ),
    Reference(
        "duplicate_text_share",
        "original posts whose text another account also posted",
        0.10,
        0.50,
        0.8,
        "after lower-casing and removing links and mentions; organic campaigns repeat slogans and headlines, "
        "rarely whole posts",
    ),
    Reference(
        "posts_per_account",
        "posts per account",
        2.0,
        6.0,
        0.6,
        "people in a campaign post once or twice; a few accounts carrying many hashtags post many times each; "
        f"counted with {MIN_ACCOUNTS} accounts or more",
    ),
    Reference(
        "share_created_that_week",
        "accounts created in the same week",
        0.15,
        0.50,
        0.6,
        f"the busiest week of account creation; counted with {MIN_DATED_ACCOUNTS} accounts of known age or more",
    ),
)

# The words for the score, from the lowest band up, and a word or two for a table's column.
LEVELS = (
    (0.2, "nothing beyond what organic campaigns show", "nothing"),
    (0.5, "some signs of coordination", "some"),
    (0.8, "strong signs of coordination", "strong"),
    (math.inf, "very strong signs of coordination", "very strong"),
)


def level_of(score: float) -> str:
    return next(words for bound, words, _ in LEVELS if score < bound)


def short_level_of(score: float) -> str:
    return next(short for bound, _, short in LEVELS if score < bound)


def _part(value: float, ref: Reference) -> float:
    return min(max((value - ref.organic) / (ref.coordinated - ref.organic), 0.0), 1.0)


@dataclass
class Assessment:
    score: float
    level: str
    evidence: list[dict]

    def to_dict(self) -> dict:
        return {"score": round(self.score, 3), "level": self.level, "evidence": self.evidence}

    def _repr_html_(self) -> str:  # how a notebook shows it: the evidence table of the HTML report
        from swell.html_report import fragment

        return fragment("_assessment.html.j2", a=self.to_dict())


def assess(signals: dict) -> Assessment:
    """The assessment of a campaign's signals (`campaign_signals`). A signal that could not be measured
    (no original posts, too few accounts of known age) is in the evidence with no value and no part."""
    evidence, keep = [], 1.0
    for ref in REFERENCES:
        value = signals.get(ref.signal)
        if ref.signal == "share_created_that_week" and (signals.get("dated_accounts") or 0) < MIN_DATED_ACCOUNTS:
            value = None
        if ref.signal == "posts_per_account" and (signals.get("accounts") or 0) < MIN_ACCOUNTS:
            value = None
        part = None if value is None else _part(float(value), ref)
        if part is not None:
            keep *= 1 - ref.weight * part
        evidence.append(
            {
                "signal": ref.signal,
                "label": ref.label,
                "value": None if value is None else round(float(value), 3),
                "organic_up_to": ref.organic,
                "coordinated_from": ref.coordinated,
                "beyond_organic": None if part is None else round(part, 3),
                "weight": ref.weight,
                "meaning": ref.meaning,
            }
        )
    observed, expected = signals.get("synchrony_within_5s"), signals.get("synchrony_expected_at_random")
    if observed is not None:
        evidence.append(
            {
                "signal": "synchrony_within_5s",
                "label": "posts with another account's post within 5 s",
                "value": round(float(observed), 3),
                "expected_at_random": None if expected is None else round(float(expected), 3),
                "beyond_organic": None,
                "weight": 0.0,
                "meaning": "shown, not scored: a planned blast by many people is synchronised without being "
                "coordinated",
            }
        )
    score = 1 - keep
    return Assessment(score, level_of(score), evidence)
