"""X/Twitter API v2 as twarc2 writes it, on real files from twarc-csv's test data (see data/twitter-v2/SOURCE.md)."""

from conftest import DATA, ingest, post, rejects, rows, utc

V2 = DATA / "twitter-v2"


def test_stream_pages_with_an_error_line(db):
    result = ingest(db, V2 / "streaming_output_with_error.jsonl")
    assert len(rows(db)) == 7
    [bad] = rejects(db)
    assert bad["line"] == 8 and bad["file"].endswith("streaming_output_with_error.jsonl")
    assert bad["reason"].startswith("invalid JSON")
    assert bad["raw"].startswith('{"data": {"author_id": "1021159080151404544"')
    assert "streaming_output_with_error.jsonl:8" in result.output

    dogs = post(db, "twitter:1377650387579248643")
    assert dogs["author_handle"] == "OpenMindMH" and dogs["author_id"] == "387869763"
    assert dogs["hashtags"] == ["dogsoftwitter", "dogs"]
    assert dogs["created_at"] == utc("2021-04-01T15:53:42+00:00")
    assert dogs["kind"] == "post" and dogs["author_followers"] == 4485

    quote = post(db, "twitter:1377650090978992134")
    assert quote["kind"] == "quote"
    assert (quote["ref_post_id"], quote["ref_author_id"]) == ("twitter:1377640162566496258", "41783881")

    reply = post(db, "twitter:1377650093109743620")
    assert reply["kind"] == "reply" and reply["ref_post_id"] == "twitter:1377266697850257410"
    assert reply["ref_author_id"] == "601852746"


def test_response_page_expands_includes(db):
    ingest(db, V2 / "two_tweets.jsonl")
    rt = post(db, "twitter:1394735776701816833")
    assert rt["kind"] == "repost"
    assert rt["ref_post_id"] == "twitter:1391677057810288641"
    assert rt["ref_author_id"] == "1380086327023169540"  # from includes.tweets
    assert rt["author_handle"] == "LachiVeronica"  # from includes.users
    assert rt["text"] == "RT @bibaigna96: #POIUYTREWQ"
    assert rt["hashtags"] == ["poiuytrewq"] and rt["lang"] == "und"


def test_flattened_lines(db):
    ingest(db, V2 / "flat.jsonl")
    assert [r["post_id"] for r in rows(db, "SELECT post_id FROM posts ORDER BY source")] == [
        "twitter:1380242611781386245",
        "twitter:1380242597881409537",
        "twitter:1380242596900044806",
        "twitter:1380242586288328707",
        "twitter:1380242584816128001",
    ]
    rt = post(db, "twitter:1380242611781386245")
    assert rt["kind"] == "repost" and rt["ref_author_id"] == "2718660392"
    # the retweet's own text is truncated: the full text comes from the inline referenced tweet
    assert rt["text"].startswith("RT @williamserafino: De manera simultánea, vuelven a asediar")
    assert rt["text"].endswith("La pandilla del Partido Demócrata hace sentir su regreso.")
    reply = post(db, "twitter:1380242586288328707")
    assert reply["kind"] == "reply" and reply["ref_post_id"] == "twitter:1380229267770933248"
    assert reply["mentions"] == ["1142605723601264640", "592730371"]
    link = post(db, "twitter:1380242597881409537")
    assert link["urls"] == [
        "https://thegatewaypundit.com/2021/04/nasa-emails-employees-seeking-volunteers-help-staff-facilities"
        "-unaccompanied-illegal-alien-children"
    ]
