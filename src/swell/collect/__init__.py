"""`swell collect`: the past of a hashtag, fetched from public services that need no account, into
the store, resumably and politely.

- `collect_bluesky(BlueskyCollect(...))`: Jetstream within its lookback (posts and reposts), the
  AppView's searchPosts before it, sliced under search's result cap (`swell.collect.bluesky`);
- `collect_mastodon(MastodonCollect(...))`: the tag timeline of several instances at once, each
  status once (`swell.collect.mastodon`);
- `slices`: the slices of time asked of each source, committed with their posts, so that a
  collection stopped anywhere resumes with nothing stored twice;
- `pages`: the road from a page to the store, and a run from start to stop;
- `polite`: User-Agent, rate limits (429 with Retry-After or a reset time), backoff on 5xx and
  dropped connections, `CollectRefused` on other 4xx.

Both return `CollectStats`: pages, Jetstream events, posts committed (and new), the time each
source has reached, and notes for the user (search has no reposts).
"""

from swell.collect.bluesky import BlueskyCollect, collect_bluesky
from swell.collect.mastodon import MastodonCollect, collect_mastodon
from swell.collect.pages import CollectOptions, CollectStats
from swell.collect.polite import CollectRefused, CollectStopped, Politeness

__all__ = [
    "BlueskyCollect",
    "CollectOptions",
    "CollectRefused",
    "CollectStats",
    "CollectStopped",
    "MastodonCollect",
    "Politeness",
    "collect_bluesky",
    "collect_mastodon",
]
