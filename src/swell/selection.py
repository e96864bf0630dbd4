"""Which posts an analysis looks at: a time range, a platform, and hashtags.

One definition for every analysis (trends, campaigns, coordination, reports), so that the same
options select the same posts whichever command is asked. A post belongs to a hashtag selection when
it carries one of the hashtags, and so does a repost of such a post: a Bluesky repost carries no
hashtags of its own (an X repost carries the original's), and without it co-reposts would vanish.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from swell.normalise import normalize_hashtag


@dataclass(frozen=True)
class Selection:
    """Posts from `since_us` (inclusive) to `until_us` (exclusive), of one platform, with any of the
    hashtags (normalised: '#FreeThePress' and 'freethepress' are one); None or empty: no limit."""

    since_us: int | None = None
    until_us: int | None = None
    platform: str | None = None
    hashtags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "hashtags", tuple(dict.fromkeys(normalize_hashtag(h) for h in self.hashtags)))

    @classmethod
    def of(cls, *, hashtags: Iterable[str] = (), **limits) -> Selection:
        return cls(hashtags=tuple(hashtags), **limits)

    def where(self) -> tuple[str, list]:
        """SQL over the `posts` table that selects these posts, and its parameters (`?`): every value
        travels as a parameter, never in the SQL text."""
        clauses, params = self.range_where()
        if self.hashtags:
            tags = list(self.hashtags)
            clauses += """ AND (list_has_any(hashtags, ?) OR (kind = 'repost' AND ref_post_id IN (
                               SELECT post_id FROM posts WHERE list_has_any(hashtags, ?))))"""
            params += [tags, tags]
        return clauses, params

    def range_where(self) -> tuple[str, list]:
        """The time range and platform alone (what trends are detected over: every hashtag)."""
        clauses: list[str] = ["TRUE"]
        params: list = []
        if self.since_us is not None:
            clauses.append("created_at >= make_timestamptz(?)")
            params.append(self.since_us)
        if self.until_us is not None:
            clauses.append("created_at < make_timestamptz(?)")
            params.append(self.until_us)
        if self.platform:
            clauses.append("platform = ?")
            params.append(self.platform)
        return " AND ".join(clauses), params

    def without_hashtags(self) -> Selection:
        return Selection(self.since_us, self.until_us, self.platform)
