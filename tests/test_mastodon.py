"""Mastodon statuses: a real public timeline (data/mastodon/SOURCE.md) and the documented v4 shape."""

import orjson

from conftest import DATA, ingest, post, rows, utc
from swell.readers.mastodon import html_to_text

TIMELINE = DATA / "mastodon" / "mastodon4j-public_timeline.json"


def test_public_timeline(db):
    ingest(db, TIMELINE)
    assert len(rows(db)) == 20
    first = post(db, "mastodon:tag:mstdn.jp,2017-04-14:objectId=172429:objectType=Status")
    assert first["author_id"] == "https://mstdn.jp/@iorin0225"  # global, not the instance-local id
    assert first["author_handle"] == "iorin0225"
    assert first["text"] == "電話であれ、テキストであれ、伝達能力はしっかり鍛えてほしい。"  # HTML stripped
    assert first["created_at"] == utc("2017-04-14T06:11:41.893+00:00")
    remote = post(db, "mastodon:tag:mstdn.club,2017-04-14:objectId=19523:objectType=Status")
    assert remote["author_handle"] == "ryutah@mstdn.club"
    assert remote["urls"] == [
        "https://inforati.jp/apple/mac-tips-techniques/system-hints/"
        "how-to-capture-a-specific-window-with-macos-screen-shot-function.html"
    ]


def _v4_status(**changes) -> dict:
    """A status of today's API (4.x fields) built from a real 2017 status of the timeline above."""
    status = orjson.loads(TIMELINE.read_bytes())[0]
    status["account"]["uri"] = "https://mstdn.jp/users/iorin0225"
    status["tags"] = [{"name": "Blast2024", "url": "https://mstdn.jp/tags/blast2024"}]
    status["language"] = "ja"
    status["content"] = (
        '<p>Join <a href="https://mstdn.jp/tags/Blast2024" class="mention hashtag" rel="tag">#<span>Blast2024'
        '</span></a> <span class="h-card"><a href="https://mastodon.cloud/@katsusuke" class="u-url mention">'
        '@<span>katsusuke</span></a></span><br>see <a href="https://example.org/a?utm_source=m">example.org/a</a>'
        "</p><p>&lt;script&gt;</p>"
    )
    return status | changes


def test_current_api_fields_reblogs_and_replies(db, tmp_path):
    original = _v4_status()
    reblog = _v4_status(id="999", uri="https://mstdn.jp/users/nururyun/statuses/999", reblog=original, content="") | {
        "account": orjson.loads(TIMELINE.read_bytes())[16]["account"]
    }
    reply = _v4_status(
        id="1000",
        uri="https://mstdn.jp/users/iorin0225/statuses/1000",
        in_reply_to_id="172402",
        in_reply_to_account_id="999999",
        mentions=[{"id": "999999", "url": "https://mstdn.jp/@nururyun", "acct": "nururyun"}],
    )
    path = tmp_path / "statuses.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(s) for s in (original, reblog, reply)) + b"\n")
    ingest(db, path)
    first = post(db, f"mastodon:{original['uri']}")
    assert first["author_id"] == "https://mstdn.jp/@iorin0225"  # the profile url, as mentions carry it
    assert first["hashtags"] == ["blast2024"] and first["lang"] == "ja"
    assert first["text"] == "Join #Blast2024 @katsusuke\nsee example.org/a\n\n<script>"
    assert first["urls"] == ["https://example.org/a"]  # mentions and hashtag links are not shared links
    boost = post(db, "mastodon:https://mstdn.jp/users/nururyun/statuses/999")
    assert boost["kind"] == "repost" and boost["ref_post_id"] == f"mastodon:{original['uri']}"
    assert boost["author_id"] == "https://mstdn.jp/@nururyun"
    assert boost["hashtags"] == ["blast2024"] and boost["text"].startswith("Join #Blast2024")
    answer = post(db, "mastodon:https://mstdn.jp/users/iorin0225/statuses/1000")
    assert (answer["kind"], answer["ref_post_id"]) == ("reply", "mastodon:local:172402")
    # the replied-to account is found among the mentions, under the id it has as an author
    assert answer["ref_author_id"] == answer["mentions"][0] == boost["author_id"]


def test_html_to_text_keeps_markup_out_and_text_in():
    text, links = html_to_text('<p>a<br/>b</p><p><a href="https://x.org/">x.org</a> &amp; "q"</p>')
    assert (text, links) == ('a\nb\n\nx.org & "q"', ["https://x.org/"])
    assert html_to_text("Tom &amp; Jerry") == ("Tom & Jerry", [])
    # Mastodon 4 federates lists, quotes and code blocks: none of their text is lost
    rich = (
        "<p>Three reasons:</p><ul><li>one</li><li>two #vote</li></ul>"
        "<blockquote><p>quoted</p></blockquote><pre><code>x = 1</code></pre>"
    )
    assert html_to_text(rich)[0] == "Three reasons:\n\none\n\ntwo #vote\n\nquoted\n\nx = 1"


def test_streaming_api_messages(db, tmp_path):
    status = _v4_status()
    messages = [
        {"event": "update", "payload": orjson.dumps(status).decode()},
        {"event": "delete", "payload": "172402"},
        {"event": "status.update", "payload": orjson.dumps(status).decode()},
    ]
    path = tmp_path / "stream.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(m) for m in messages) + b"\n")
    result = ingest(db, path)
    assert [r["post_id"] for r in rows(db)] == [f"mastodon:{status['uri']}"]
    assert [r["post_id"] for r in rows(db, "SELECT post_id FROM deletions")] == ["mastodon:local:172402"]
    assert "mastodon stream status.update event 1" in " ".join(result.output.split())


def test_recent_ids_tell_repeats_in_bounded_memory():
    """What `swell watch mastodon` on several instances remembers to count a status once: the real
    timeline's ids, each delivered by two instances, then more statuses than it keeps."""
    from swell.live.mastodon import RecentIds

    ids = [s["uri"] for s in orjson.loads(TIMELINE.read_bytes())]
    recent = RecentIds(limit=len(ids))
    assert recent.fresh(ids[:10] + ids[:10]) == [True] * 10 + [False] * 10  # the second instance's copies
    assert recent.fresh(ids[5:]) == [False] * 5 + [True] * (len(ids) - 10)
    assert recent.fresh([f"{i}#later" for i in ids[:3]]) == [True] * 3
    assert len(recent.ids) == len(ids) and ids[0] not in recent.ids  # the oldest forgotten
    assert recent.fresh(ids[:1]) == [True]
