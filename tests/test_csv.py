"""CSV exports through column mappings: the IRA troll tweets (data/ira-2016-09/SOURCE.md), --map options."""

import codecs
import csv
import gzip
import hashlib
import io
import re

import pytest

from conftest import DATA, ingest, post, rejects, rows, swell, utc
from swell.readers import csv as csv_reader

IRA = DATA / "ira-2016-09"
SAMPLE = IRA / "IRAhandle_tweets_sample.csv"
BY_AUTHOR = IRA / "bet4a-TEN_GOP-2016-09-25_to_28.csv"


def _csv(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_fivethirtyeight_release_through_the_shipped_mapping(db):
    result = ingest(db, SAMPLE)  # detected from the header: no --mapping needed
    assert "csv (ira-fivethirtyeight) 100" in result.output
    assert len(rows(db)) == 100 and rejects(db) == []
    # a spreadsheet re-save turned tweet_id into 9.1458E+17; the ids come from article_url instead
    assert len({r["post_id"] for r in rows(db)}) == 100
    first = post(db, "twitter:914580356430536707")
    assert first["created_at"] == utc("2017-10-01T19:58:00+00:00")  # two-digit year, second format
    assert (first["author_id"], first["author_handle"]) == ("905874659358453760", "10_GOP")
    assert (first["lang"], first["author_followers"], first["kind"]) == ("en", 9636, "post")
    assert first["urls"] == ["https://twitter.com/10_gop/status/914580356430536707/video/1"]
    source = _csv(SAMPLE)
    kinds = rows(db, "SELECT kind, count(*) AS n FROM posts GROUP BY kind ORDER BY kind")
    assert kinds == [
        {"kind": "post", "n": sum(r["post_type"] == "" for r in source)},
        {"kind": "quote", "n": sum(r["post_type"] == "QUOTE_TWEET" for r in source)},
        {"kind": "repost", "n": sum(r["post_type"] == "RETWEET" for r in source)},
    ]


def test_september_2016_debate_tweets_without_ids(db):
    ingest(db, BY_AUTHOR)
    source = _csv(BY_AUTHOR)
    assert len(rows(db)) == len(source) == 155
    for tag in ("debatenight", "debates", "debates2016"):
        expected = sum(bool(re.search(rf"#{tag}\b", r["content"], re.IGNORECASE)) for r in source)
        found = rows(db, "SELECT count(*) AS n FROM posts WHERE list_contains(hashtags, ?)", [tag])
        assert found == [{"n": expected}], tag
    assert rows(db, "SELECT count(*) AS n FROM posts WHERE kind = 'repost'") == [{"n": 7}]
    [first] = rows(db, "SELECT * FROM posts WHERE source LIKE '%:2'")
    assert first["created_at"] == utc("2016-09-25T02:49:00+00:00")
    assert first["hashtags"] == ["baltimore", "baltimoreshooting"] and first["author_handle"] == "TEN_GOP"
    # the hashed key is stable: reading the file again stores nothing new
    again = swell("ingest", "--db", db, "--force", BY_AUTHOR)
    assert "155 │   0 │ 155" in again.output and len(rows(db)) == 155


def test_map_options_on_an_export_of_stored_posts(db, tmp_path):
    ingest(db, DATA / "twitter-v2" / "flat.jsonl")
    exported = tmp_path / "export.csv"
    fields = ["id", "when", "who", "body", "net"]
    with exported.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(fields)
        for r in rows(db):
            out.writerow(
                [
                    r["post_id"].removeprefix("twitter:"),
                    r["created_at"].isoformat(),
                    r["author_id"],
                    r["text"],
                    "twitter",
                ]
            )
    other = tmp_path / "other.duckdb"
    options = ["--map", "id=post_id", "--map", "when=created_at", "--map", "who=author_id", "--map", "body=text"]
    swell("ingest", "--db", other, *options, "--map", "x=platform", exported, ok=False)  # no column x
    assert rows(other) == []
    swell("ingest", "--db", other, *options, "--map", "net=platform", exported)
    before = {r["post_id"]: r for r in rows(db)}
    after = {r["post_id"]: r for r in rows(other)}
    assert after.keys() == before.keys()
    for post_id, r in after.items():
        assert (r["created_at"], r["author_id"], r["text"]) == (
            before[post_id]["created_at"],
            before[post_id]["author_id"],
            before[post_id]["text"],
        )
        assert r["platform"] == "twitter"  # and the ids are the JSON readers' ids: one post, not two


def test_mapping_mistakes_are_usage_errors(db, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\npost_id = "a"\ncreated_at = "b"\nauthor_id = "c"\nfollowers = "d"\n')
    result = swell("ingest", "--db", db, "--mapping", bad, SAMPLE, ok=False)
    assert result.exit_code == 2 and "unknown fields ['followers']" in result.output
    result = swell("ingest", "--db", db, "--map", "nonsense", SAMPLE, ok=False)
    assert result.exit_code == 2 and "--map takes COLUMN=FIELD" in result.output
    bad.write_text('[columns]\npost_id = "a"\ncreated_at = "b"\nauthor_id = "c"\n[flags]\nis_retweet = "retweet"\n')
    result = swell("ingest", "--db", db, "--mapping", bad, SAMPLE, ok=False)
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "name kinds ('repost', 'reply', 'quote'), not ['retweet']" in said


def test_unknown_csv_is_said_at_once_with_its_columns(db, tmp_path):
    """A CSV export whose header no mapping knows: one message first, naming its columns and the fields
    a mapping needs; not a reject per line read as JSON."""
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(
        "tweet_id,screen_name,created,content\n1,a,2024-03-01T12:00:00Z,hi\n2,b,2024-03-01T12:01:00Z,ho\n"
    )
    result = ingest(db, unknown, ok=False)
    assert result.exit_code == 1 and rejects(db) == []
    said = " ".join(result.output.split())
    assert "a CSV file (delimiter ',')" in said and "its columns: tweet_id, screen_name, created, content" in said
    assert "post_id, created_at, author_id and text" in said and "--map tweet_id=post_id" in said


# First lines that the CSV sniffer once took for a header of two columns, refusing the file whole; each
# line is a reject with its line, like any other. Found by the property test (NUL bytes around a |;
# `!|!`: a header names its columns, so it has a letter or a digit somewhere) and by review (a JSON
# string such as "a\",\"b": a line that is a JSON value is a record).
NOT_HEADERS = {
    "binary": (b"\x00|\x00\n", [(1, "invalid JSON")]),
    "punctuation": (b"!|!\n", [(1, "invalid JSON")]),
    "json-string": (b'"a\\",\\"b"\n3\n', [(1, "not a JSON object but str"), (2, "not a JSON object but int")]),
}


@pytest.mark.parametrize("content, expected", NOT_HEADERS.values(), ids=NOT_HEADERS)
def test_a_first_line_that_names_no_columns_is_not_taken_for_a_csv_header(content, expected, db, tmp_path):
    lines = tmp_path / "lines.jsonl"
    lines.write_bytes(content)
    result = ingest(db, lines, ok=False)
    assert result.exit_code == 1 and "a CSV file" not in result.output
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejects(db)] == expected


def test_a_csv_with_semicolons_is_read_with_its_delimiter(db, tmp_path):
    export = tmp_path / "export.csv"
    export.write_text(
        "tweet_id;screen_name;created;content\n1;a;2024-03-01T12:00:00Z;hi, there\n2;b;2024-03-01T12:01:00Z;ho\n"
    )
    maps = ["--map", "tweet_id=post_id", "--map", "screen_name=author_id", "--map", "created=created_at",
            "--map", "content=text"]  # fmt: skip
    swell("ingest", "--db", db, *maps, export)
    assert [(r["author_id"], r["text"]) for r in rows(db, "SELECT * FROM posts ORDER BY created_at")] == [
        ("a", "hi, there"), ("b", "ho")
    ]  # fmt: skip


def test_map_options_set_the_platform_and_an_id_pattern(db, tmp_path):
    """What a TOML mapping can say, on the command line: the platform, and an id taken out of a URL."""
    export = tmp_path / "toots.csv"
    export.write_text(
        "url,account,created_at,content\n"
        "https://mastodon.social/@a/111222333,a,2024-03-01T12:00:00Z,#Blast now\n"
        "https://mastodon.social/@b/111222334,b,2024-03-01T12:01:00Z,hi\n"
    )
    maps = ["--map", r"url=post_id~/(\d+)$", "--map", "account=author_id", "--map", "created_at=created_at",
            "--map", "content=text", "--map", "platform=mastodon"]  # fmt: skip
    swell("ingest", "--db", db, *maps, export)
    stored = rows(db, "SELECT post_id, platform, hashtags FROM posts ORDER BY post_id")
    assert [(r["post_id"], r["platform"], r["hashtags"]) for r in stored] == [
        ("mastodon:111222333", "mastodon", ["blast"]), ("mastodon:111222334", "mastodon", [])
    ]  # fmt: skip
    bad = swell("ingest", "--db", db, "--map", "url", export, ok=False)
    assert bad.exit_code == 2 and "COLUMN=FIELD~REGEX or platform=NAME" in bad.output


def test_numeric_times_in_any_unit_and_malformed_rows_kept_whole(db, tmp_path):
    export = tmp_path / "times.csv"
    when = "2024-03-01T12:00:00+00:00"
    export.write_text(
        "id,ts,user,body\n"
        "1,1709294400,a,seconds\n"
        "2,1709294400000,a,milliseconds\n"
        "3,1709294400000000,a,microseconds\n"
        "4,1709294400000000000,a,nanoseconds\n"
        "5,1709294400,a,too,many\n"
        "6,99999999999999999999999,a,nonsense\n"
    )
    swell(
        "ingest",
        "--db",
        db,
        "--map",
        "id=post_id",
        "--map",
        "ts=created_at",
        "--map",
        "user=author_id",
        "--map",
        "body=text",
        export,
    )
    assert [(r["text"], r["created_at"]) for r in rows(db, "SELECT * FROM posts ORDER BY post_id")] == [
        (unit, utc(when)) for unit in ("seconds", "milliseconds", "microseconds", "nanoseconds")
    ]
    bad = {r["line"]: r for r in rejects(db)}
    assert bad[6]["raw"] == "5,1709294400,a,too,many\n"  # as it was in the file
    assert bad[6]["reason"] == "row has 5 fields, the header has 4"
    assert "too large to be seconds" in bad[7]["reason"]


FOURCAT_BLUESKY = DATA / "4cat" / "bluesky.csv"  # real French posts, with emoji (data/4cat/SOURCE.md)


def _texts(db) -> dict[str, str]:
    return {r["post_id"]: r["text"] for r in rows(db)}


@pytest.mark.parametrize(
    ("encoding", "delimiter", "said"),
    [("cp1252", ",", "cp1252"), ("utf-16", "\t", "UTF-16"), ("utf-16-le", ",", "UTF-16LE"), ("utf-8-sig", ",", None)],
)
def test_a_csv_export_in_another_encoding_is_decoded_and_said(encoding, delimiter, said, db, tmp_path):
    """Excel's saves of a real export: "CSV" in cp1252 (what it lacks becomes ?), "Unicode text" in
    UTF-16 with a byte-order mark and tabs, UTF-16 without one, "CSV UTF-8" with a byte-order mark."""
    utf8 = tmp_path / "utf8.duckdb"
    ingest(utf8, FOURCAT_BLUESKY)
    with FOURCAT_BLUESKY.open(newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(table)
    saved = tmp_path / f"export-{encoding}.csv"
    saved.write_bytes(out.getvalue().encode(encoding, errors="replace"))
    result = ingest(db, saved)
    assert "csv (4cat-bluesky) 7" in result.output and rejects(db) == []
    notes = [line for line in result.output.splitlines() if line.startswith("note")]
    assert notes == ([f"note {saved}: text in {said}, not UTF-8: decoded as such"] if said else [])
    expected = {k: v.encode(encoding, errors="replace").decode(encoding) for k, v in _texts(utf8).items()}
    assert _texts(db) == expected
    assert any(c in "éèà" for text in expected.values() for c in text)


def test_a_corrupt_record_in_an_otherwise_utf8_csv_is_rejected_not_guessed_at(db, tmp_path):
    """One valid UTF-8 character beyond ASCII makes the file UTF-8: a bad byte elsewhere is a corrupt
    record, set aside with its line; no other encoding is guessed, no note."""
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    assert any(not line.isascii() for line in lines[1:])  # emoji, curly quotes
    at = next(i for i, line in enumerate(lines) if i > 0 and line.isascii())
    cells = zip(next(csv.reader([lines[0].decode()])), next(csv.reader([lines[at].decode()])), strict=True)
    column = next(name for name, cell in cells if "http" in cell)  # where the first "http" of the line is
    lines[at] = lines[at].replace(b"http", b"ht\xe9tp", 1)  # a Latin-1 é amid UTF-8
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"".join(lines))
    result = ingest(db, broken)
    assert "note" not in result.output
    [bad] = rejects(db)
    assert (bad["line"], bad["reason"]) == (at + 1, f"invalid UTF-8 in column {column!r}")
    assert len(rows(db)) == 99


def test_a_record_its_encoding_cannot_decode_is_a_reject_in_that_encoding(db, tmp_path):
    """UTF-16 with half of an emoji's surrogate pair (a save cut mid-character): that record is set
    aside, saying which encoding it is not, and the others are read."""
    text = FOURCAT_BLUESKY.read_bytes().decode().encode("utf-16-le")
    emoji = "🙃".encode("utf-16-le")  # in the first post's body
    assert text.count(emoji) == 1
    export = tmp_path / "export.csv"
    export.write_bytes(codecs.BOM_UTF16_LE + text.replace(emoji, emoji[:2]))
    result = ingest(db, export)
    assert "text in UTF-16, not UTF-8" in result.output
    [bad] = rejects(db)
    assert (bad["line"], bad["reason"]) == (2, "invalid UTF-16 in column 'body'")
    assert len(rows(db)) == 6


def _bluesky_table() -> list[list[str]]:
    with FOURCAT_BLUESKY.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _saved(table: list[list[str]], path, encoding: str):
    out = io.StringIO()
    csv.writer(out).writerows(table)
    path.write_bytes(out.getvalue().encode(encoding, errors="replace"))
    return path


def _padded(before: int, after: int) -> list[list[str]]:
    """The real export with ASCII rows of its own around its posts: `before` bytes of them, then the
    posts, then `after` bytes. Their text is hex digests, as little repeated as real text: gzip packs
    it 2-3 times (a row repeated would come out of the first compressed chunk whole)."""
    table = _bluesky_table()
    [plain] = [row for row in table[1:] if all(cell.isascii() for cell in row)]
    post_id, body = table[0].index("id"), table[0].index("body")

    def padding(size: int, name: str) -> list[list[str]]:
        rows, used = [], 0
        while used < size:
            row = list(plain)
            row[post_id] += f"-{name}-{len(rows)}"
            row[body] = "".join(hashlib.sha256(f"{name}.{len(rows)}.{k}".encode()).hexdigest() for k in range(12))
            rows.append(row)
            used += len(",".join(row)) + 2
        return rows

    return [table[0], *padding(before, "before"), *table[1:], *padding(after, "after")]


def _cp1252_texts_of_the_export(tmp_path) -> dict[str, str]:
    utf8 = tmp_path / "utf8.duckdb"
    ingest(utf8, FOURCAT_BLUESKY)
    return {k: v.encode("cp1252", errors="replace").decode("cp1252") for k, v in _texts(utf8).items()}


def test_the_encoding_is_told_from_a_whole_sample_of_a_gzipped_file(db, tmp_path):
    """The sample is read in full: a peek at the buffered gzip stream gives one compressed chunk's
    worth (here about 150 kB, all ASCII), and the cp1252 rows after it were rejected as bad UTF-8."""
    text = _saved(_padded(950_000, 300_000), tmp_path / "export.csv", "cp1252").read_bytes()
    first_accent = next(i for i, byte in enumerate(text) if byte >= 0x80)
    assert 900_000 < first_accent < csv_reader.ENCODING_SAMPLE < len(text)
    packed = tmp_path / "export.csv.gz"
    packed.write_bytes(gzip.compress(text))
    result = ingest(db, packed)
    assert f"note {packed}: text in cp1252, not UTF-8" in result.output and rejects(db) == []
    want = _cp1252_texts_of_the_export(tmp_path)
    assert {k: v for k, v in _texts(db).items() if k in want} == want


def test_a_file_ascii_in_its_first_megabyte_is_told_where_it_goes_beyond(db, tmp_path):
    """A cp1252 file whose first accent comes after the sample: its encoding is told from the line of
    that accent (its rows were rejected as bad UTF-8)."""
    export = _saved(_padded(1_200_000, 0), tmp_path / "export.csv", "cp1252")
    assert export.read_bytes()[: csv_reader.ENCODING_SAMPLE].isascii()
    result = ingest(db, export)
    assert f"note {export}: text in cp1252, not UTF-8" in result.output and rejects(db) == []
    want = _cp1252_texts_of_the_export(tmp_path)
    assert {k: v for k, v in _texts(db).items() if k in want} == want


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_sample_that_ends_inside_a_character_is_still_told(encoding):
    """Wherever the sample ends (a gzip stream, a short file), a character it cuts is not taken for a
    byte the encoding lacks, and UTF-16 (or UTF-32) without a byte-order mark, cut at an odd byte, is
    still told from where its NULs are."""
    decoded = FOURCAT_BLUESKY.read_text(encoding="utf-8")
    text, ends, offset = decoded.encode(encoding), [], 0
    for char in decoded:
        size = len(char.encode(encoding))
        if not char.isascii():
            ends += range(offset + 1, offset + size)  # inside the character
        offset += size
    assert len(ends) > 40
    for end in ends[:40]:
        assert csv_reader.detect_encoding(text[:end]) == encoding, end


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_bad_character_in_utf16_without_a_byte_order_mark_is_one_reject(encoding, db, tmp_path):
    """Half of a surrogate pair, and an odd last byte (a download cut short), in UTF-16 without a
    mark: the encoding is told from where the NULs are, not from a clean decode, so the record with
    the bad character is set aside and the rest read (a failed decode made it UTF-8: all was lost)."""
    text = FOURCAT_BLUESKY.read_bytes().decode().encode(encoding)
    emoji = "🙃".encode(encoding)  # in the first post's body
    half = emoji[:2] if encoding.endswith("le") else emoji[2:]  # the high surrogate alone / the low alone
    export = tmp_path / "export.csv"
    export.write_bytes(text.replace(emoji, half)[:-1])
    result = ingest(db, export)
    said = encoding.upper().replace("-LE", "LE").replace("-BE", "BE")
    assert f"text in {said}, not UTF-8" in result.output
    reasons = {r["line"]: r["reason"] for r in rejects(db)}
    last = len(FOURCAT_BLUESKY.read_bytes().splitlines()) + 1  # the odd byte, after the last line's end
    assert reasons == {2: f"invalid {said} in column 'body'", last: "row has 1 fields, the header has 31"}
    assert len(rows(db)) == 6


@pytest.mark.parametrize(
    ("text", "encoding", "count", "said"),
    [
        ("€100 only", "cp1252", 50, "cp1252"),  # was cp1125: "А100 only"
        ("€100 only", "cp1252", 1, "cp1252"),  # was cp437
        ("naïve résumé", "latin-1", 1, "cp1252"),  # was cp775; cp1252 has Latin-1's letters
        ("Très élevé, déjà vu à côté", "cp1252", 1, "cp1252"),  # was cp1257: "Trčs"
        ("Zażółć gęślą jaźń", "cp1250", 50, "cp1250"),  # was no match: UTF-8, every row rejected
        ("Привет, как дела?", "cp1251", 20, "cp1251"),
    ],
)
def test_a_legacy_code_page_is_one_a_spreadsheet_saves_in(text, encoding, count, said, db, tmp_path):
    """Without a byte-order mark or UTF-8, the Windows code pages (and Latin-1) are the candidates,
    cp1252 where charset-normalizer rates it as well as another or names none."""
    posts = ([i, f"2024-01-01T00:00:{i:02}Z", f"u{i}", text] for i in range(count))
    table = [["id", "created_at", "author_id", "text"], *posts]
    export = _saved(table, tmp_path / "export.csv", encoding)
    result = swell("ingest", "--db", db, *_MAP_TEXT, export)
    assert f"note {export}: text in {said}, not UTF-8: decoded as such" in result.output
    assert rejects(db) == [] and {r["text"] for r in rows(db)} == {text} and len(rows(db)) == count


_MAP_TEXT = [f"--map={c}" for c in ("id=post_id", "created_at=created_at", "author_id=author_id", "text=text")]
