r"""CSV exports (twarc-csv, 4CAT, the IRA troll-tweet releases, ...) through a column mapping.

A mapping is a TOML file (see `swell/mappings/*.toml`, which ship as examples) or `--map` options
on the command line (`COLUMN=FIELD`, `COLUMN=FIELD~REGEX` for a pattern, `platform=NAME`):

    platform = "twitter"              # the platform name stored in every row
    time_format = ["%m/%d/%Y %H:%M"]  # strptime formats, tried in order; omitted: ISO 8601 or Unix seconds
    [columns]                         # unified field = CSV column
    post_id = "tweet_id"
    [patterns]                        # optional: a regex whose first group is taken from the column
    post_id = 'statuses/(\d+)'
    [values.kind]                     # raw column value -> stored value, per field
    RETWEET = "repost"
    [defaults]                        # value when the column is empty
    kind = "post"
    [refs]                            # column holding a referenced post id -> the kind it implies
    "referenced_tweets.retweeted.id" = "repost"
    [flags]                           # column saying yes/no (or empty) -> the kind a yes implies
    is_retweet = "repost"
    [ref_authors]                     # kind -> column holding the referenced author
    repost = "retweeted_user_id"
    export_columns = [...]            # optional: all the export's columns, to tell it from a similar one

A row that several refs or flags mark is a repost before a reply before a quote, as in the JSON
readers; a flag sets the kind without a referenced post (4CAT's CSV exports name none), unless a
ref column of the same kind holds its id. A flag is set by any value but empty, no, false or 0.

An export without post ids names `key_columns` instead: the post id is then a hash of those columns,
the same on every ingest, so re-ingesting stays idempotent.

Hashtags come from a hashtags column when the mapping names one, otherwise from the text.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path

import charset_normalizer
import orjson
import pycountry

from swell.model import POST_SCHEMA, Post
from swell.normalise import hashtags_from_text, normalize_hashtags, normalize_urls
from swell.readers.base import BadRecord, account_id, pseudonymised
from swell.sources import MAX_LINE, TOO_LONG_KEPT, wide_encoding
from swell.times import datetime_to_us, parse_iso_time


@lru_cache(maxsize=1024)
def language_code(value: str) -> str:
    """ISO 639 code for a language name ('English' -> 'en'), as some exports write names; a value
    that is already a code, or that no standard name matches, is kept as it is."""
    if len(value) <= 3:
        return value
    try:
        language = pycountry.languages.lookup(value)
    except LookupError:
        return value
    return getattr(language, "alpha_2", None) or language.alpha_3


NAME = "csv"
_REF_KINDS = ("repost", "reply", "quote")  # in the order a row marked as several is taken as one
_NO = frozenset(("", "no", "false", "0"))  # what a flag column says when it is not set
REQUIRED = ("post_id", "created_at", "author_id")
FIELDS = frozenset(POST_SCHEMA.names) - {"source"}
LIST_FIELDS = frozenset(("hashtags", "urls", "mentions"))


@dataclass
class Mapping:
    name: str
    platform: str = "csv"
    # unified field -> CSV column; a list field (hashtags, urls, mentions) may take several columns
    columns: dict[str, str | list[str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # CSV column -> kind
    flags: dict[str, str] = field(default_factory=dict)  # CSV column (yes/no) -> kind
    ref_authors: dict[str, str] = field(default_factory=dict)  # kind -> CSV column
    patterns: dict[str, str] = field(default_factory=dict)  # unified field -> regex with one group
    key_columns: list[str] = field(default_factory=list)  # hashed into post_id when there is no id column
    time_format: list[str] = field(default_factory=list)
    # every column of the export this mapping is written for, read or not: only to tell apart exports
    # whose columns the mappings read differ by one or two (`mapping_for_header`)
    export_columns: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, name: str, data: dict) -> Mapping:
        unknown = set(data) - {f.name for f in cls.__dataclass_fields__.values()} - {"name"}
        if unknown:
            raise ValueError(f"mapping {name}: unknown keys {sorted(unknown)}")
        if isinstance(data.get("time_format"), str):
            data = {**data, "time_format": [data["time_format"]]}
        mapping = cls(name=name, **data)
        mapping.check()
        return mapping

    def with_options(self, options: list[str]) -> Mapping:
        """Command-line options on top of this mapping: `COLUMN=FIELD` (the field from that column),
        `COLUMN=FIELD~REGEX` (from the regex's one group in that column, as a [patterns] entry), and
        `platform=NAME` (the platform stored in every row, where NAME is not a post field)."""
        columns, patterns, platform = dict(self.columns), dict(self.patterns), self.platform
        for option in options:
            column, sep, target = option.partition("=")
            target, _, pattern = target.partition("~")
            column, target = column.strip(), target.strip()
            if not sep or not column or not target:
                raise ValueError(f"--map takes COLUMN=FIELD, COLUMN=FIELD~REGEX or platform=NAME, got {option!r}")
            if column == "platform" and target not in FIELDS:
                platform = target
                continue
            columns[target] = column
            if pattern:
                patterns[target] = pattern
        mapping = Mapping(**{**self.__dict__, "columns": columns, "patterns": patterns, "platform": platform})
        mapping.check()
        return mapping

    def check(self) -> None:
        bad = (set(self.columns) | set(self.patterns)) - FIELDS
        if bad:
            raise ValueError(f"mapping {self.name}: unknown fields {sorted(bad)}; fields are {sorted(FIELDS)}")
        missing = [f for f in REQUIRED if f not in self.columns and not (f == "post_id" and self.key_columns)]
        if missing:
            raise ValueError(f"mapping {self.name}: no column given for {missing}")
        self.check_list_columns()
        odd = sorted({*self.refs.values(), *self.flags.values(), *self.ref_authors} - set(_REF_KINDS))
        if odd:
            raise ValueError(f"mapping {self.name}: refs, flags and ref_authors name kinds {_REF_KINDS}, not {odd}")
        for name, pattern in self.patterns.items():
            if re.compile(pattern).groups != 1:
                raise ValueError(f"mapping {self.name}: the pattern for {name} needs exactly one (group)")

    def check_list_columns(self) -> None:
        for name, column in self.columns.items():
            if isinstance(column, list) and name not in LIST_FIELDS:
                raise ValueError(f"mapping {self.name}: only {sorted(LIST_FIELDS)} take several columns, not {name}")

    def needed_columns(self) -> set[str]:
        columns = {c for v in self.columns.values() for c in ([v] if isinstance(v, str) else v)}
        return {*columns, *self.refs, *self.flags, *self.ref_authors.values(), *self.key_columns}

    def fits(self, header: list[str]) -> bool:
        return self.needed_columns() <= set(header)


def load_mapping(spec: str | Path) -> Mapping:
    """A mapping from a TOML or JSON file, or by the name of one that ships with swell or that an
    installed package registers (entry-point group `swell.mappings`)."""
    path = Path(spec)
    if not path.exists():
        if str(spec) in _registered_mappings():
            return _registered_mappings()[str(spec)]
        shipped = resources.files("swell") / "mappings" / f"{spec}.toml"
        if not shipped.is_file():
            raise ValueError(
                f"no mapping file {spec!r}, and no shipped mapping of that name ({', '.join(shipped_names())})"
            )
        return Mapping.from_dict(str(spec), tomllib.loads(shipped.read_text()))
    raw = path.read_bytes()
    data = orjson.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
    return Mapping.from_dict(path.name, data)


@cache
def _registered_mappings() -> dict[str, Mapping]:
    """Mappings that installed packages register: each entry point of the group `swell.mappings`
    names a dict in the TOML file's shape (or a Mapping), under the entry point's name."""
    found = {}
    for point in entry_points(group="swell.mappings"):
        value = point.load()
        found[point.name] = value if isinstance(value, Mapping) else Mapping.from_dict(point.name, dict(value))
    return found


def mapping_from_options(spec: str | Path | None, columns: list[str] | tuple[str, ...] = ()) -> Mapping | None:
    """The mapping a user asked for: a file or a name (`--mapping`), with `COLUMN=FIELD` options
    (`--map`) on top of it or alone; None when neither was given."""
    if spec is None and not columns:
        return None
    base = load_mapping(spec) if spec is not None else Mapping(name="--map")
    return base.with_options(list(columns)) if columns else base


def shipped_names() -> list[str]:
    """The mappings known by name: those that ship with swell, then those packages register."""
    folder = resources.files("swell") / "mappings"
    own = sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))
    return own + sorted(set(_registered_mappings()) - set(own))


def mapping_for_header(header: list[str]) -> Mapping | None:
    """The known mapping for a header: of those whose columns all appear in it, the one that knows the
    most of its columns (those it reads and its `export_columns`), so that exports whose mappings read
    all but one column alike (4CAT's X API v2 and X import) are told apart by all the others; of
    mappings that know as many, the first by name (`shipped_names`)."""
    columns = set(header)
    fitting = [mapping for mapping in map(load_mapping, shipped_names()) if mapping.fits(header)]
    return max(fitting, key=lambda m: len((m.needed_columns() | set(m.export_columns)) & columns), default=None)


def split_cell(value: str | list | None) -> list[str]:
    """A list cell: JSON (as twarc-csv writes entities) or separated by spaces, commas or semicolons;
    a list already (a Parquet column's); None, empty."""
    if isinstance(value, list):
        return _items(value)
    value = (value or "").strip()
    if not value:
        return []
    if value.startswith("["):
        return _items(orjson.loads(value))
    return [v for v in value.replace(",", " ").replace(";", " ").split() if v]


def _items(items: list) -> list[str]:
    """The values of a list cell's items: strings and numbers as they are, of an entity the value the
    JSON readers keep."""
    out = []
    for item in items:
        if isinstance(item, dict):
            item = (  # the value the JSON readers keep: ids before usernames, expanded links before t.co
                item.get("tag")
                or item.get("text")
                or item.get("unwound_url")
                or item.get("expanded_url")
                or item.get("url")
                or item.get("id")
                or item.get("username")
            )
        if isinstance(item, str | int):
            out.append(str(item))
    return out


class RowConverter:
    """Turns CSV rows (dicts keyed by header) into posts under one mapping."""

    def __init__(self, mapping: Mapping):
        self.m = mapping
        self.patterns = {name: re.compile(p) for name, p in mapping.patterns.items()}

    def _get(self, row: dict, name: str) -> str | None:
        column = self.m.columns.get(name)
        value = row.get(column) if column else None
        if value and name in self.patterns and isinstance(value, str):  # not a time from a Parquet column
            found = self.patterns[name].search(value)
            if found is None:
                raise BadRecord(f"{name}: column {column!r} does not match {self.patterns[name].pattern!r}")
            value = found.group(1)
        if value is None or value == "":
            value = self.m.defaults.get(name)
        if value is not None and name in self.m.values:
            value = self.m.values[name].get(value, value)
        return value if value != "" else None

    def _list(self, row: dict, name: str) -> list[str]:
        """A list field, from one column or several, each cell split by `split_cell`."""
        columns = self.m.columns.get(name) or []
        return [
            item for column in ([columns] if isinstance(columns, str) else columns) for item in split_cell(row[column])
        ]

    def _time(self, value: str | datetime | None) -> int | None:
        if value is None:
            return None
        if isinstance(value, datetime):  # a Parquet column's time, typed
            return datetime_to_us(value)
        value = value.strip()
        for time_format in self.m.time_format:
            try:
                return datetime_to_us(datetime.strptime(value, time_format))
            except ValueError:
                continue
        if self.m.time_format:
            raise BadRecord(f"time {value!r} matches none of {self.m.time_format}")
        if value.replace(".", "", 1).isdigit():
            return _epoch_us(float(value))
        return parse_iso_time(value)

    def _marked(self, row: dict) -> dict[str, str | None]:
        """The kinds a row's ref and flag columns mark it as, each with its referenced post's id
        where a ref column holds one."""
        marked: dict[str, str | None] = {}
        for column, ref_kind in self.m.refs.items():
            if row.get(column):
                marked.setdefault(ref_kind, row[column])
        for column, ref_kind in self.m.flags.items():
            if (row[column] or "").strip().lower() not in _NO:  # None: a Parquet cell left empty
                marked.setdefault(ref_kind, None)
        return marked

    def _key(self, row: dict) -> str:
        joined = "\x1f".join("" if row[c] is None else str(row[c]) for c in self.m.key_columns)  # Parquet's
        return "csv-" + hashlib.blake2b(joined.encode(), digest_size=12).hexdigest()

    def _required(self, row: dict, name: str) -> str:
        value = self._get(row, name)
        if not value:
            raise BadRecord(f"empty {name} (column {self.m.columns.get(name)!r})")
        return value

    def convert(self, row: dict, source: str) -> Post:
        post_id = self._required(row, "post_id") if "post_id" in self.m.columns else self._key(row)
        author_id = account_id(self._required(row, "author_id"), "author_id")
        created_us = self._time(self._required(row, "created_at"))
        assert created_us is not None  # a value was given, and _time raises on what is not a time
        platform = self._get(row, "platform") or self.m.platform
        kind = self._get(row, "kind") or "post"
        ref_post_id = self._get(row, "ref_post_id")
        ref_author_id = self._get(row, "ref_author_id")
        marked = self._marked(row)
        for ref_kind in _REF_KINDS:
            if ref_kind in marked:
                kind, ref_post_id = ref_kind, marked[ref_kind]
                ref_author_id = row.get(self.m.ref_authors.get(ref_kind, ""), "") or None
                break
        if kind not in ("post", "repost", "quote", "reply"):
            raise BadRecord(f"kind {kind!r} is not post, repost, quote or reply (add it to [values.kind])")
        text = self._get(row, "text")
        followers = self._get(row, "author_followers")  # these two 4CAT's pseudonymisation may have hashed
        author_created = self._get(row, "author_created_at")
        return Post(
            post_id=_prefixed(platform, post_id),
            platform=platform,
            created_at=created_us,
            author_id=author_id,
            author_handle=self._get(row, "author_handle"),
            text=text,
            lang=language_code(lang) if (lang := self._get(row, "lang")) else None,
            kind=kind,
            ref_post_id=_prefixed(platform, ref_post_id) if ref_post_id else None,
            ref_author_id=ref_author_id,
            hashtags=normalize_hashtags(self._list(row, "hashtags"))
            if "hashtags" in self.m.columns
            else hashtags_from_text(text),
            urls=normalize_urls(self._list(row, "urls")),
            mentions=self._list(row, "mentions"),
            author_followers=_count(followers) if followers and not pseudonymised(followers) else None,
            author_created_at=None if pseudonymised(author_created) else self._time(author_created),
            source=source,
        )


def _prefixed(platform: str, post_id: str) -> str:
    """Ids as the JSON readers write them ('twitter:123', 'bluesky:at://...'), so the same post read
    from JSON and from CSV is one post."""
    return post_id if post_id.startswith(f"{platform}:") else f"{platform}:{post_id}"


# A number of seconds, milliseconds, microseconds or nanoseconds since 1970, told apart by size: any
# time between 1973 and 5138 has a count of seconds below 1e11, and so on for each unit.
_EPOCH_UNITS = ((1e11, 1_000_000), (1e14, 1_000), (1e17, 1), (1e20, 0.001))


def _epoch_us(number: float) -> int:
    for limit, to_us in _EPOCH_UNITS:
        if number < limit:
            return int(number * to_us)
    raise BadRecord(f"time {number:.0f} is too large to be seconds, ms, µs or ns since 1970")


def _count(value: str) -> int:
    number = int(float(value))
    if not 0 <= number < 2**63:
        raise BadRecord(f"count {value!r} is out of range")
    return number


DELIMITERS = ",;\t|"
MAX_HEADER = 65_536  # characters


def sniff_header(first_line: str) -> tuple[list[str], str] | None:
    """The columns and the delimiter of a CSV header line (`csv.Sniffer`, among , ; tab |), or None
    when the line is not one: fewer than two columns, an empty column name, a control character
    (binary data, not names), or longer than a header is (the sniffer's regular expressions are not
    run over megabytes of something else), no letter or digit in any of its names (`!|!` names
    nothing), or a line that is a JSON value (`"a,b"` is a record of a JSON-lines file)."""
    if len(first_line) > MAX_HEADER or any(c < " " and c not in "\t\r\n" for c in first_line):
        return None
    try:
        orjson.loads(first_line)
    except orjson.JSONDecodeError:
        pass  # as a header line is
    else:
        return None
    try:
        delimiter = csv.Sniffer().sniff(first_line, delimiters=DELIMITERS).delimiter
        header = next(csv.reader([first_line], delimiter=delimiter), [])
    except csv.Error:
        return None
    if len(header) < 2 or not all(column.strip() for column in header):
        return None
    if not any(c.isalnum() for column in header for c in column):
        return None
    return header, delimiter


ENCODING_SAMPLE = 1 << 20  # bytes of a CSV file looked at to tell its encoding
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, as surrogateescape decodes them
_UTF8_BEYOND_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")  # a character UTF-8 took several bytes for
# What a spreadsheet saves a CSV file in where it is not Unicode: the Windows code pages and Latin-1
# (and its euro-sign revision). charset-normalizer would also try the DOS and Mac code pages, which
# read the same bytes as other letters (cp1252's € as cp1125's А) and which no one saves a CSV in.
_LEGACY = [*(f"cp{n}" for n in range(1250, 1259)), "latin_1", "iso8859_15"]
_LEGACY_CHAOS = 0.4  # charset-normalizer's threshold: a short text in Polish already measures 0.22


def detect_encoding(head: bytes) -> str:
    """The encoding of a CSV file (a Python codec name) from its first bytes (`ENCODING_SAMPLE`, which
    may end inside a character).

    A byte-order mark says it (Excel's "CSV UTF-8" and "Unicode text" write one); UTF-16 and UTF-32
    without one are told from where their NULs are (`swell.sources.wide_encoding`). Otherwise
    the file is UTF-8 unless its non-ASCII bytes are never UTF-8: one valid multi-byte character
    makes it a UTF-8 file in which a bad byte is a corrupt record (set aside with its line, not
    guessed at); a file with none is in a Windows code page, which charset-normalizer names from the
    text, and cp1252 (Excel's in most of the world) where it cannot."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if wide := wide_encoding(head):
        return wide
    if head.isascii():
        return "utf-8"
    # A character cut by the end of the sample is held back, not taken for a byte UTF-8 lacks.
    text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(head, final=False)
    if _NOT_UTF8.search(text) is None or _UTF8_BEYOND_ASCII.search(text) is not None:
        return "utf-8"
    matches = charset_normalizer.from_bytes(head, cp_isolation=_LEGACY, threshold=_LEGACY_CHAOS)
    best = matches.best()
    if best is None:
        return "cp1252"
    # Code pages agree on most bytes (cp1250 and cp1252 on curly quotes, dashes and é), and
    # charset-normalizer can rate another as well or a little better on a few words: cp1252 is taken
    # whenever it reads the text as coherently (French read as cp1257 would turn è into č).
    if any("cp1252" in m.could_be_from_charset and m.coherence >= best.coherence for m in matches):
        return "cp1252"
    return best.encoding


def encoding_name(codec: str) -> str:
    """A codec name as people write it ('utf_16_le' is UTF-16LE, 'utf-8-sig' is UTF-8 after a mark)."""
    name = codecs.lookup(codec).name
    return {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32",
            "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE",
            "utf-32-le": "UTF-32LE", "utf-32-be": "UTF-32BE"}.get(name, name)  # fmt: skip


def read_rows(
    text_stream, delimiter: str = ",", encoding: str = "utf-8"
) -> tuple[list[str], Iterator[tuple[int, dict | str, str | None]]]:
    """The header, and per record: the line where it starts, the row as a dict or why it is
    malformed, and a malformed record's text as it was in the file (for the rejects file).

    A quoted cell may span lines, so the start line is tracked, not counted. `text_stream` decodes
    with errors="surrogateescape": a record with bytes that are not in its encoding is malformed,
    not changed.
    """
    consumed: list[str] = []  # the lines of the record being read
    too_long: list[int] = []  # the length of a line not held (longer than MAX_LINE characters)

    def lines() -> Iterator[str]:
        while line := text_stream.readline(MAX_LINE):
            if len(line) == MAX_LINE and not line.endswith(("\n", "\r")):
                length = len(line)
                while (rest := text_stream.readline(MAX_LINE)) and not rest.endswith(("\n", "\r")):
                    length += len(rest)
                consumed.append(line[:TOO_LONG_KEPT])
                too_long.append(length + len(rest))
                yield "\n"  # an empty row in its place, told apart below
                continue
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter)
    try:
        header = next(reader, None) or []
    except csv.Error:
        header = []
    consumed.clear()

    def rows() -> Iterator[tuple[int, dict | str, str | None]]:
        start = 2
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, f"malformed CSV: {exc}", _text(consumed)
            else:
                if too_long:
                    yield start, f"line of {too_long.pop():,} characters, longer than {MAX_LINE:,}", _text(consumed)
                elif len(fields) != len(header):
                    if fields:
                        yield start, f"row has {len(fields)} fields, the header has {len(header)}", _text(consumed)
                elif (where := _undecodable(fields)) is not None:
                    yield start, f"invalid {encoding_name(encoding)} in column {header[where]!r}", _text(consumed)
                else:
                    yield start, dict(zip(header, fields, strict=True)), None
            consumed.clear()
            start = reader.line_num + 1

    return header, rows()


def _undecodable(fields: list[str]) -> int | None:
    """The first field holding bytes that its encoding does not have (decoded as surrogates), or None."""
    for i, value in enumerate(fields):
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return i
    return None


def _text(lines: list[str]) -> str:
    """A record's lines for the rejects file: undecodable bytes shown as U+FFFD."""
    return "".join(lines).encode(errors="surrogateescape").decode(errors="replace")
