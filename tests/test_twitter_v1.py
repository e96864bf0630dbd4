"""X/Twitter API v1.1 statuses on real streaming output (see data/twitter-v1/SOURCE.md)."""

from conftest import DATA, ingest, post, rejects, rows, utc

V1 = DATA / "twitter-v1"


def test_streaming_lines_with_extended_tweets(db):
    ingest(db, V1 / "lines.jsonl")
    assert len(rows(db)) == 8 and rejects(db) == []
    quran = post(db, "twitter:972472958596866048")
    # truncated: true - the hashtag is only in extended_tweet's entities, and so is the full text
    assert quran["hashtags"] == ["quran"]
    assert quran["text"].endswith("سورة الحجرات\xa0#Quran")
    assert quran["created_at"] == utc("2018-03-10T14:03:15.660+00:00")  # timestamp_ms, to the millisecond
    assert (quran["author_id"], quran["author_handle"], quran["lang"]) == ("395453797", "Ali_Dokhikh", "ar")
    assert quran["author_followers"] == 910
    assert quran["author_created_at"] == utc("2011-10-21T17:47:08+00:00")

    quote = post(db, "twitter:972472958601056256")
    assert quote["kind"] == "quote"
    assert (quote["ref_post_id"], quote["ref_author_id"]) == ("twitter:972472152447438859", "399314591")
    assert quote["hashtags"] == ["gills"]

    reply = post(db, "twitter:972472962786869248")
    assert reply["kind"] == "reply" and reply["ref_post_id"] == "twitter:972186314475962369"
    assert reply["ref_author_id"] == "93069110" and reply["mentions"] == ["93069110"]
    assert reply["hashtags"] == ["bossie", "citizensunited", "rebekahmercer"]

    korean = post(db, "twitter:972472962782818304")
    assert korean["hashtags"] == ["listen", "수호", "suho", "실례해도될까요", "엑소", "exo", "장재인", "9194bro"]


def test_retweet_of_a_quote_takes_the_originals_full_text(db):
    ingest(db, V1 / "twitwi-stream-retweet-of-quote.json")  # one pretty-printed status
    [rt] = rows(db)
    assert rt["post_id"] == "twitter:1552687856111566848" and rt["kind"] == "repost"
    assert (rt["ref_post_id"], rt["ref_author_id"]) == ("twitter:1552622999664205829", "311601642")
    assert rt["text"].startswith("RT @ericcoquerel: Voilà pourquoi j’ai proposé à la")
    assert not rt["text"].endswith("…")  # the retweet's own text is cut at 140 characters
    assert rt["source"].endswith("twitwi-stream-retweet-of-quote.json:item 1")


def test_delete_notices_are_recorded_not_applied(db, tmp_path):
    lines = (V1 / "lines.jsonl").read_bytes().splitlines()
    notices = [
        b'{"delete":{"status":{"id":972472958596866048,"id_str":"972472958596866048","user_id":395453797,'
        b'"user_id_str":"395453797"},"timestamp_ms":"1520690700000"}}',
        b'{"limit":{"track":12,"timestamp_ms":"1520690700001"}}',
    ]
    mixed = tmp_path / "stream.jsonl"
    mixed.write_bytes(b"\n".join([lines[0], *notices]) + b"\n")
    result = ingest(db, mixed)
    assert [r["post_id"] for r in rows(db)] == ["twitter:972472958596866048"]  # still there
    [deletion] = rows(db, "SELECT * FROM deletions")
    assert deletion["post_id"] == "twitter:972472958596866048"
    assert deletion["deleted_at"] == utc("2018-03-10T14:05:00+00:00")
    assert "twitter-v1 stream notice: limit 1" in " ".join(result.output.split())
