"""What a store holds, in a few numbers: what `swell info` prints and a store report begins with.
Light to import: it needs only the engine."""

from __future__ import annotations

from swell.engine import Engine, one_row, rows


def describe(engine: Engine, top: int = 10) -> dict:
    """What a store holds: posts, accounts, time span, platforms, kinds, deletions, top hashtags, and
    the gaps in the collection (a day or more without a hashtag that its own record makes improbable:
    archives of different years, a lost connection; `swell.trends.Coverage`)."""
    from swell.trends import collection_gaps, gaps_as_json

    total, first, last, accounts = one_row(
        engine, "SELECT count(*), min(created_at), max(created_at), count(DISTINCT author_id) FROM posts"
    )
    platforms = engine.frame("SELECT platform, count(*) AS n FROM posts GROUP BY platform ORDER BY n DESC, platform")
    kinds = engine.frame("SELECT kind, count(*) AS n FROM posts GROUP BY kind ORDER BY n DESC, kind")
    tags = rows(
        engine,
        """SELECT tag AS hashtag, count(*) AS posts, count(DISTINCT author_id) AS accounts
           FROM (SELECT unnest(hashtags) AS tag, author_id FROM posts)
           GROUP BY tag ORDER BY posts DESC, tag LIMIT ?""",
        [top],
    )
    return {
        "posts": total,
        "accounts": accounts,
        "first": first,
        "last": last,
        "platforms": dict(platforms.iter_rows()),
        "kinds": dict(kinds.iter_rows()),
        "deletions": one_row(engine, "SELECT count(*) FROM deletions")[0],
        "top_hashtags": tags,
        "gaps": gaps_as_json(collection_gaps(engine)),
    }
