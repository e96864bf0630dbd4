"""4CAT exports, NDJSON and CSV, of every platform swell and 4CAT share (X web captures, the X API
v2, Bluesky), read by `swell ingest` with no options: made by 4CAT's own code from swell's real
samples (data/4cat/SOURCE.md), so each is checked against the posts of the sample it came from."""

import csv
import json
import re

import pytest

from conftest import DATA, ingest, rejects, rows, utc
from swell.readers.base import pseudonymised

FOURCAT = DATA / "4cat"
# 4CAT export -> the sample it was made from, and the reader that reads that export's NDJSON
EXPORTS = {
    "x-import": ([DATA / "x-web" / "zeeschuimer-x-home-timeline.ndjson"], "x-web"),
    "x-api-v2": (
        [
            DATA / "twitter-v2" / "two_tweets.jsonl",
            DATA / "twitter-v2" / "streaming_output_with_error.jsonl",
            FOURCAT / "twarc-csv-withheld-lookup.jsonl",
        ],
        "twitter-v2",
    ),
    "bluesky": ([DATA / "bluesky" / "twitwi-bluesky-posts.head.json"], "bluesky"),
}
MAPPINGS = {"x-import": "4cat-x-import", "x-api-v2": "4cat-x-api-v2", "bluesky": "4cat-bluesky"}


def _posts(db) -> dict[str, dict]:
    return {r["post_id"]: r for r in rows(db, "SELECT * EXCLUDE (source) FROM posts")}


def _originals(tmp_path, name: str) -> dict[str, dict]:
    db = tmp_path / f"{name}-original.duckdb"
    ingest(db, *EXPORTS[name][0], ok=False)  # the v2 stream capture ends in a cut line: one reject
    return _posts(db)


def _csv_rows(path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", EXPORTS)
def test_a_4cat_ndjson_export_gives_the_posts_of_what_4cat_collected(name, db, tmp_path):
    result = ingest(db, FOURCAT / f"{name}.ndjson")
    count = len((FOURCAT / f"{name}.ndjson").read_text().splitlines())
    assert f"records per format: {EXPORTS[name][1]} {count}" in result.output
    assert rejects(db) == []
    assert _posts(db) == _originals(tmp_path, name)  # every field of every post


@pytest.mark.parametrize("name", EXPORTS)
def test_a_4cat_csv_export_is_read_through_its_datasources_mapping(name, db, tmp_path):
    """The fields 4CAT's CSV holds are the posts' own; those it does not hold are left empty."""
    result = ingest(db, FOURCAT / f"{name}.csv")
    assert f"csv ({MAPPINGS[name]}) " in result.output and rejects(db) == []
    from_csv, original = _posts(db), _originals(tmp_path, name)
    assert from_csv.keys() == original.keys()
    for post_id, post in from_csv.items():
        want = original[post_id]
        same = ("platform", "author_id", "author_handle", "text", "lang", "kind")
        assert {f: post[f] for f in same} == {f: want[f] for f in same}, post_id
        # 4CAT joins hashtags and links from a set: the order in a cell is lost
        assert sorted(post["hashtags"]) == sorted(want["hashtags"]) and sorted(post["urls"]) == sorted(want["urls"])
        assert post["mentions"] == [] and post["ref_author_id"] is None  # 4CAT names these by handle
        if name == "x-import" and post["kind"] == "quote":  # the one referenced post 4CAT's CSV names
            assert post["ref_post_id"] == want["ref_post_id"] is not None
        else:
            assert post["ref_post_id"] is None
    kinds = sorted(p["kind"] for p in from_csv.values())
    assert kinds == sorted(p["kind"] for p in original.values()) and len(set(kinds)) > 1


def test_4cats_placeholder_for_a_tweet_it_could_not_have_is_no_post(db):
    """An id lookup's missing tweet: 4CAT writes the API's error with "UNKNOWN" as its author and the
    time of the lookup; it is counted as ignored, and 4CAT's own CSV leaves it out."""
    [placeholder] = [line for line in (FOURCAT / "x-api-v2.ndjson").read_text().splitlines() if "UNKNOWN" in line]
    assert json.loads(placeholder)["resource_type"] == "tweet"
    result = ingest(db, FOURCAT / "x-api-v2.ndjson")
    said = " ".join(result.output.split())  # as printed, wrapped
    assert "ignored (not posts): twitter-v2 tweet that could not be had (4CAT's error placeholder) 1" in said
    assert rows(db, "SELECT count(*) AS n FROM posts WHERE author_id = 'UNKNOWN'") == [{"n": 0}]
    assert json.loads(placeholder)["id"] not in {r["id"] for r in _csv_rows(FOURCAT / "x-api-v2.csv")}


def test_x_api_v2_csv_times_and_followers(db, tmp_path):
    ingest(db, FOURCAT / "x-api-v2.csv")
    original = _originals(tmp_path, "x-api-v2")
    for post_id, post in _posts(db).items():
        assert (post["created_at"], post["author_followers"]) == (
            original[post_id]["created_at"],
            original[post_id]["author_followers"],
        )
    retweet = _posts(db)["twitter:1394735776701816833"]
    assert (retweet["kind"], retweet["text"]) == ("repost", "RT @bibaigna96: #POIUYTREWQ")


def test_bluesky_csv_keeps_created_at_where_the_ndjson_has_indexed_at(db, tmp_path):
    """The JSON readers never place a post after the AppView saw it; 4CAT's CSV has only createdAt."""
    ingest(db, FOURCAT / "bluesky.csv")
    from_csv, original = _posts(db), _originals(tmp_path, "bluesky")
    source = {r["id"]: r for r in _csv_rows(FOURCAT / "bluesky.csv")}
    later = []
    for post_id, post in from_csv.items():
        assert post["created_at"] == utc(source[post_id.removeprefix("bluesky:")]["created_at"])
        if post["created_at"] != original[post_id]["created_at"]:
            later.append(post_id)
            assert post["created_at"] > original[post_id]["created_at"]
    assert len(later) == 2  # createdAt after indexedAt: by 5 s, and by 2 s


def test_4cat_malformed_records_are_rejected_with_file_and_line(db, tmp_path):
    """Broken NDJSON lines and CSV rows of 4CAT exports: each set aside with its line, the rest kept."""
    bluesky = (FOURCAT / "bluesky.ndjson").read_text().splitlines()
    no_time = json.loads(bluesky[1])
    del no_time["record"]["created_at"], no_time["indexed_at"]
    v2 = (FOURCAT / "x-api-v2.ndjson").read_text().splitlines()
    bad_author = json.loads(v2[0])
    bad_author["author_id"] = 1379899464345923590  # a number where the API gives a string
    ndjson = tmp_path / "export.ndjson"
    ndjson.write_text("\n".join([bluesky[0], json.dumps(no_time), json.dumps(bad_author), v2[1][:200], v2[2]]) + "\n")
    result = ingest(db, ndjson)
    assert "5 │   2 │   0 │        3" in result.output  # 5 lines: 2 posts, 3 rejects (one line not JSON)
    reasons = {r["line"]: r["reason"] for r in rejects(db) if r["file"] == str(ndjson)}
    assert reasons[2].startswith("post record has no valid createdAt")
    assert reasons[3] == "author_id must be a non-empty string, got int"
    assert reasons[4].startswith("invalid JSON")

    lines = (FOURCAT / "x-api-v2.csv").read_bytes().decode().splitlines(keepends=True)  # CRLF, as written
    header = lines[0].split(",")
    at = header.index("timestamp")
    cells = lines[2].split(",")
    cells[at] = "01/04/2021 15:52"  # a spreadsheet's date
    broken = [lines[0], lines[1], ",".join(cells), lines[3].replace(",", "", 1), *lines[4:]]
    export = tmp_path / "export.csv"
    export.write_bytes("".join(broken).encode())
    ingest(db, export)
    reasons = {r["line"]: r["reason"] for r in rejects(db) if r["file"] == str(export)}
    assert reasons == {
        3: "time '01/04/2021 15:52' matches none of ['%Y-%m-%d %H:%M:%S']",
        4: f"row has {len(header) - 1} fields, the header has {len(header)}",
    }
    stored = rows(db, "SELECT source FROM posts WHERE source LIKE ?", [f"{export}:%"])
    assert len(stored) == len(_csv_rows(FOURCAT / "x-api-v2.csv")) - 2


@pytest.mark.parametrize("suffix", ["ndjson", "csv"])
@pytest.mark.parametrize("name", EXPORTS)
def test_a_pseudonymised_4cat_export_gives_its_posts_under_pseudonyms(name, suffix, db, tmp_path):
    """4CAT's "Pseudonymise" hashes every value under an author* or user* key, follower counts and
    account creation times too: those are unknown, not bad records; each account keeps one pseudonym."""
    ingest(db, FOURCAT / f"{name}-pseudonymised.{suffix}")
    assert rejects(db) == []
    plain_db = tmp_path / "plain.duckdb"
    ingest(plain_db, FOURCAT / f"{name}.{suffix}")
    hidden, plain = _posts(db), _posts(plain_db)
    assert hidden and hidden.keys() <= plain.keys()
    details = any(p["author_followers"] is not None or p["author_created_at"] is not None for p in plain.values())
    assert details == (suffix == "ndjson" or name != "x-import")  # 4CAT's X import CSV has neither
    pseudonyms: dict[str, str] = {}
    for post_id, post in hidden.items():
        want = plain[post_id]
        assert pseudonymised(post["author_id"]) and pseudonymised(post["author_handle"])
        assert pseudonyms.setdefault(want["author_id"], post["author_id"]) == post["author_id"]
        assert (post["author_followers"], post["author_created_at"]) == (None, None)
        same = ("platform", "created_at", "kind", "lang", "ref_post_id")
        assert {f: post[f] for f in same} == {f: want[f] for f in same}, post_id
        assert sorted(post["hashtags"]) == sorted(want["hashtags"])
        if post["kind"] != "repost":  # a retweet's "RT @user: " names the retweeted account by pseudonym
            assert post["text"] == want["text"]
    assert len(set(pseudonyms.values())) == len(pseudonyms) > 1


def test_of_two_mappings_that_fit_the_one_that_knows_more_of_the_header_reads_it(db, tmp_path):
    """An X import CSV with a follower count added (as a later 4CAT, or a spreadsheet, might) fits
    the X API v2 mapping too, which reads all but one of the same columns: the X import mapping knows
    more of the header, so the quoted tweet's id (quote_tweet_id) is kept."""
    table = list(csv.reader((FOURCAT / "x-import.csv").open(newline="", encoding="utf-8")))
    export = tmp_path / "x-import-with-followers.csv"
    with export.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([[*row, "12" if i else "author_followers"] for i, row in enumerate(table)])
    result = ingest(db, export)
    assert "csv (4cat-x-import) " in result.output and rejects(db) == []
    quotes = [p for p in _posts(db).values() if p["kind"] == "quote"]
    assert quotes and all(p["ref_post_id"] is not None for p in quotes)
    for name in ("x-api-v2", "x-import"):  # each export alone still goes to its own
        assert f"csv (4cat-{name}) " in ingest(tmp_path / f"{name}.duckdb", FOURCAT / f"{name}.csv").output


@pytest.mark.parametrize("suffix", ["ndjson", "csv"])
@pytest.mark.parametrize("name", EXPORTS)
def test_a_4cat_anonymised_export_is_refused_for_what_it_is(name, suffix, db, tmp_path):
    """4CAT's default "Anonymise" writes REDACTED where "Pseudonymise" writes a hash (the same
    values: every one under an author* or user* key), so every post would be one account's: each
    record is set aside saying so, none stored under REDACTED, no error about a count or a time."""
    pseudonymised_export = (FOURCAT / f"{name}-pseudonymised.{suffix}").read_text(encoding="utf-8")
    anonymised = tmp_path / f"{name}-anonymised.{suffix}"
    anonymised.write_text(re.sub(r"\b[0-9a-f]{48}\b", "REDACTED", pseudonymised_export), encoding="utf-8")
    result = ingest(db, anonymised, ok=False)
    assert "bad value" not in result.output and "REDACTED" not in result.output
    reasons = [r["reason"] for r in rejects(db)]
    assert reasons and set(reasons) == {"4CAT anonymised export: it has no account ids, which swell needs"}
    plain = tmp_path / "plain.duckdb"
    ingest(plain, FOURCAT / f"{name}-pseudonymised.{suffix}")
    assert len(reasons) == len(_posts(plain)) and rows(db, "SELECT * FROM posts") == []


@pytest.mark.parametrize("name", EXPORTS)
def test_a_pseudonymised_export_keeps_no_real_id_of_another_account(name, db, tmp_path):
    """4CAT leaves real ids where no author* or user* key holds them (a reply's in_reply_to_user_id,
    the DID in a Bluesky at:// URI, mentions): next to pseudonymous authors they are left out, said once."""
    export = FOURCAT / f"{name}-pseudonymised.ndjson"
    result = ingest(db, export)
    plain = tmp_path / "plain.duckdb"
    ingest(plain, FOURCAT / f"{name}.ndjson")
    linked = [p for p in _posts(plain).values() if p["ref_author_id"] or p["mentions"]]
    assert linked  # what there was to leave out
    hidden = _posts(db)
    assert all((p["ref_author_id"], p["mentions"]) == (None, []) for p in hidden.values())
    notes = [line for line in " ".join(result.output.split()).split("note ")[1:] if "4CAT pseudonymised" in line]
    assert len(notes) == 1 and notes[0].startswith(f"{export}: 4CAT pseudonymised export: the accounts")
