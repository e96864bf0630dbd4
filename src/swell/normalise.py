"""How hashtags and URLs are normalised, so that the same tag or link written two ways is one:
'#ＢＬＭ' and 'blm', 'http://www.example.com/a/?utm_source=x' and 'https://example.com/a'. Pure
Python, imported by the readers and by anything that takes a hashtag from a user."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


@lru_cache(maxsize=1 << 16)
def normalize_hashtag(tag: str) -> str:
    """NFKC, case-folded, without the leading '#' (or fullwidth '＃'): '#ＢＬＭ' and 'blm' are one tag."""
    return unicodedata.normalize("NFKC", tag).lstrip("#").casefold()


def normalize_hashtags(tags) -> list[str]:
    """Normalise and de-duplicate, keeping first-seen order; empty tags are dropped."""
    out: list[str] = []
    for tag in tags:
        norm = normalize_hashtag(tag)
        if norm and norm not in out:
            out.append(norm)
    return out


# Twitter-text's rule, simplified: a '#' not preceded by a word character, '&' or '/', followed by
# word characters that include at least one non-digit (so '#1' is not a hashtag, '#1world' is).
# Used only where a platform gives no entities (plain text, CSV exports).
_HASHTAG_RE = re.compile(r"(?<![\w&/#＃])[#＃](\w*[^\W\d]\w*)")


def hashtags_from_text(text: str | None) -> list[str]:
    if not text:
        return []
    return normalize_hashtags(_HASHTAG_RE.findall(text))


_TRACKING_PARAMS = ("utm_", "fbclid", "gclid", "igshid", "mc_cid", "mc_eid")


@lru_cache(maxsize=1 << 16)
def normalize_url(url: str) -> str:
    """A canonical form so that the same link shared two ways matches (co-link networks).

    Lower-cased scheme and host, http folded into https, 'www.' and default ports dropped, fragment
    and tracking parameters (utm_*, fbclid, ...) removed, trailing '/' of the path removed.
    A string that does not parse as a URL is returned stripped, never dropped.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url
    if not parts.scheme or not host:
        return url
    scheme = parts.scheme.lower()
    if scheme == "http":
        scheme = "https"
    host = host.removeprefix("www.")
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith(_TRACKING_PARAMS)
        ]
    )
    return urlunsplit((scheme, host, parts.path.rstrip("/"), query, ""))


def normalize_urls(urls) -> list[str]:
    out: list[str] = []
    for url in urls:
        if url:
            norm = normalize_url(url)
            if norm not in out:
                out.append(norm)
    return out
