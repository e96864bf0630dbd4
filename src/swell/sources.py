"""Input files: compression and layout told from the content (not the name), records streamed.

Layouts:
- `jsonl`: one JSON value per line (twarc, twarc2, Jetstream captures, most exports);
- `json`: JSON documents, possibly pretty-printed or concatenated, or one top-level array
  (an API response saved to a file); streamed item by item with ijson, never loaded whole;
- `car`: a Bluesky repository export (CARv1, binary; `swell.readers.car`), read whole;
- `text`: anything else: CSV when a column mapping fits it, otherwise lines that are rejected.
"""

from __future__ import annotations

import codecs
import io
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import ijson
import orjson
import zstandard

from swell.errors import InputNotFound, NotPosts

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BOM = b"\xef\xbb\xbf"


_SNIFF_LINES = 20
_SNIFF_LINE_LIMIT = 16 << 20  # a twarc2 page of 100 tweets with includes is ~0.5 MB on one line


def _compression(raw: BinaryIO) -> str | None:
    """`gzip` or `zstd` from the magic bytes at the start of a file, or None."""
    magic = raw.read(4)
    raw.seek(0)
    return _compression_of(magic)


def _compression_of(magic: bytes) -> str | None:
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    # a zstd frame, or a skippable frame (0x184D2A50 to 5F, little-endian), as pzstd begins its files with
    if magic[:4] == _ZSTD_MAGIC or (magic[1:4] == b"\x2a\x4d\x18" and 0x50 <= magic[0] <= 0x5F):
        return "zstd"
    return None


STDIN = "-"  # the input name that stands for standard input


def _looks_like_data(name: str) -> bool:
    """Whether a file found in a folder is read: a data suffix (.json, .jsonl, .ndjson, .csv, .car,
    .parquet, in any case), compressed or not, or a compressed file with no other suffix (its content decides). Not
    READMEs, nor swell's own rejects files."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    compressed = bool(suffixes) and suffixes[-1] in (".gz", ".zst")
    inner = suffixes[:-1] if compressed else suffixes
    if name.lower().endswith(".rejects.jsonl"):
        return False
    return (bool(inner) and inner[-1] in DATA_SUFFIXES) or (compressed and not inner)


DATA_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv", ".car", ".parquet"}


def expand_inputs(paths: Iterable[str | Path]) -> list[Path | str]:
    """Input files as given, in that order; a folder as the data files below it, by extension and in
    name order (READMEs are not data, nor swell's own rejects files, nor names starting with . or _);
    `-` (standard input) and URIs (for Spark) as they are. Raises InputNotFound for the local paths
    that are not there."""
    out: list[Path | str] = []
    missing = []
    for given in paths:
        if given == STDIN or "://" in str(given):
            out.append(str(given))
            continue
        path = Path(given)
        if not path.exists():
            missing.append(str(path))
        elif not path.is_dir():
            out.append(path)
        else:
            for found in sorted(path.rglob("*")):
                # Names starting with . or _ are not data, as Spark, DuckDB and pyarrow take them:
                # macOS's ._ files, a cut-short Spark attempt's _temporary/ (its _SUCCESS marker).
                hidden = any(part.startswith((".", "_")) for part in found.relative_to(path).parts)
                if found.is_file() and not hidden and _looks_like_data(found.name):
                    out.append(found)
    if missing:
        raise InputNotFound(f"no such file or folder: {', '.join(missing)}")
    return out


_CAR_MAGIC = b"\xa2eroots"  # a CARv1 header's DAG-CBOR map, {"roots": ..., "version": 1}, after its length


def is_car(head: bytes) -> bool:
    """Whether the first bytes of a file are a CARv1 header: a varint length (one or two bytes for
    any header with a root), then the map that starts with "roots"."""
    return head[1:8] == _CAR_MAGIC or (head[:1] >= b"\x80" and head[2:9] == _CAR_MAGIC)


_PARQUET = b"PAR1"  # the first (and last) bytes of a Parquet file
_UNPACK = "unpack it and ingest the folder"
_RECOMPRESS = "swell reads gzip and zstd: decompress it (or recompress it as one of them) and ingest that"
# Formats that are no layout of posts, from their first bytes, and what to do: one error for the file
# rather than a rejected "line" for every newline byte of its binary.
_NOT_POSTS = [
    (re.compile(pattern, re.DOTALL), what)
    for pattern, what in (
        (
            rb"PAR1",
            "a Parquet file, which swell reads from a file of its own: not from standard input, nor inside "
            "gzip or zstd (Parquet compresses its columns itself)",
        ),
        (rb"PK\x03\x04", f"a ZIP archive (or an Excel or Word file: ZIP inside); {_UNPACK}"),
        (rb"PK\x05\x06", "an empty ZIP archive"),
        (rb".{257}ustar", f"a tar archive; {_UNPACK}"),  # POSIX and GNU tar: after the first name and mode
        (rb"7z\xbc\xaf\x27\x1c", f"a 7-Zip archive; {_UNPACK}"),
        (rb"BZh[1-9](1AY&SY|\x17rE8P\x90)", f"bzip2-compressed; {_RECOMPRESS}"),  # a block, or the end
        (rb"\xfd7zXZ\x00", f"xz-compressed; {_RECOMPRESS}"),
        (
            rb".{8}DUCK..\x00\x00",  # after a checksum, the storage version
            "a DuckDB database: a swell store is named with --db, not ingested",
        ),
        (rb"SQLite format 3\x00", "a SQLite database; export its posts as CSV or JSON lines and ingest those"),
        (rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel or Word file; save it as CSV and ingest that"),
        (rb"%PDF-", "a PDF document"),
    )
]
NOT_POSTS_HEAD = 262  # the bytes `not_posts` looks at


def not_posts(head: bytes) -> str | None:
    """What a file is, and what to do with it, when its first bytes are those of a format that holds
    no posts swell reads; None otherwise (text, or a layout swell reads)."""
    return next((what for pattern, what in _NOT_POSTS if pattern.match(head)), None)


def sniff_layout(stream: BinaryIO) -> tuple[str, bytes]:
    """`jsonl`, `json` or `text` (CSV, or something unknown) from the first lines of a stream,
    and the first non-blank line (a CSV header, if it is CSV)."""
    lines: list[bytes] = []
    budget = _SNIFF_LINE_LIMIT  # what is read in all: a file without newlines is no reason to hold more
    while len(lines) < _SNIFF_LINES and budget > 0:
        line = stream.readline(budget)
        if not line:
            break
        budget -= len(line)
        if line.strip():
            lines.append(line.removeprefix(_BOM).strip())
    if not lines:
        return "jsonl", b""  # empty: nothing to read either way
    first = lines[0]
    if first in (b"{", b"[") or (first.startswith(b"[") and not _a_value(first)):
        return "json", first  # a document over many lines: pretty-printed, or an array one item a line
    if first.startswith((b"{", b"[")) or any(line.startswith(b"{") and _a_value(line) for line in lines[1:]):
        return "jsonl", first  # a JSON value a line (a broken one is rejected on its own), maybe after a title
    return "text", first


def _a_value(line: bytes) -> bool:
    """Whether a line holds a whole JSON value: it parses, or it closes what it opens (a value nested
    deeper than orjson reads is still a line of its own, not the start of a document)."""
    if line[-1:] == {b"[": b"]", b"{": b"}"}.get(line[:1]):
        return True
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


MAX_DEPTH = 1024  # the deepest JSON swell reads, in documents as in lines (orjson's limit)


MAX_LINE = 64 << 20  # the longest line read (a twarc2 page of 100 tweets is about 0.5 MB)
TOO_LONG_KEPT = 4096  # of a longer line, the start kept for the rejects file


class TooLong(NamedTuple):
    """What stands for a line longer than MAX_LINE (it is not held): its start and its length."""

    head: bytes
    length: int


class TooDeep(NamedTuple):
    """What stands for an item of a JSON document nested deeper than MAX_DEPTH (it is not built)."""

    depth: int


class Decompressed(io.RawIOBase):
    """The decompressed bytes of a gzip or zstd file, member after member (frame after frame), that
    end where the compressed data is cut short or damaged instead of raising: everything decoded
    before that point is read as usual, and `damage` says what happened and at which compressed
    byte. (Python's gzip and zstandard's stream reader lose up to a buffer of decoded lines before a
    cut, and a zstd file cut between frames reads as complete; a collection killed mid-write is cut.)
    """

    _CHUNK = 1 << 16  # compressed bytes read at a time
    _ZSTD_SLICE = 1 << 10  # compressed bytes fed to zstd at a time: at most ~32 MB out

    def __init__(self, raw: BinaryIO, compression: str):
        self._raw = raw
        self._compression = compression
        self._member = self._new_member()
        self._started = False  # the current member has been fed something
        self._input = b""  # compressed bytes read but not yet fed
        self._offset = 0  # compressed bytes fed so far
        self._output = memoryview(b"")  # decompressed bytes not yet handed out
        self._done = False
        self.damage: str | None = None

    def _new_member(self):
        if self._compression == "gzip":
            return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        return zstandard.ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._output and not self._done:
            self._fill(len(buffer))
        n = min(len(buffer), len(self._output))
        buffer[:n] = self._output[:n]
        self._output = self._output[n:]  # a view: no copying of what is left
        return n

    def _fill(self, wanted: int) -> None:
        """Decode the next piece of input into `_output`, or end the stream (at its end or damage)."""
        if not self._started:  # between members: NUL padding (as tape and some writers add) is no data
            self._input = self._input.lstrip(b"\0")
        if not self._input:
            self._input = self._raw.read(self._CHUNK)
            if not self._input:
                if self._started:
                    self._end(f"cut short: the data ends inside a {self._compression} member at byte {self._offset:,}")
                self._done = True
            return
        member = self._member
        if self._compression == "gzip":  # output bounded by zlib: a small input can expand a thousandfold
            data, self._input = self._input, b""
        else:  # zstd bounds no output: fed a slice at a time (a zstd block expands at most ~32,000 times)
            data, self._input = self._input[: self._ZSTD_SLICE], self._input[self._ZSTD_SLICE :]
        # zlib can copy a decoder: the copy decodes what came before the damage if this input is bad.
        before = member.copy() if self._compression == "gzip" else None
        try:
            out = member.decompress(data, max(wanted, self._CHUNK)) if before is not None else member.decompress(data)
        except (zlib.error, zstandard.ZstdError) as exc:
            out, good = self._salvage(before, data) if before is not None else (b"", 0)
            self._output = memoryview(out)
            self._end(f"corrupt {self._compression} data at byte {self._offset + good:,}: {exc}")
            return
        self._started = True
        left = member.unused_data if member.eof else member.unconsumed_tail if before is not None else b""
        self._offset += len(data) - len(left)
        self._output = memoryview(out)
        if member.eof:  # the member (frame) is complete; what follows is the next one
            self._member, self._started = self._new_member(), False
        if left:
            self._input = bytes(left) + self._input

    @staticmethod
    def _salvage(decoder, data: bytes) -> tuple[bytes, int]:
        """What `decoder` (a zlib decoder) makes of `data` up to its damage: the output of the longest
        prefix of `data` it decodes without an error, and that prefix's length."""
        good, low, high = b"", 0, len(data)
        while low < high:
            middle = (low + high + 1) // 2
            try:
                good = decoder.copy().decompress(data[:middle])
                low = middle
            except zlib.error:
                high = middle - 1
        return good, low

    def _end(self, damage: str) -> None:
        self.damage = damage
        self._done = True


def _undecodable(error: UnicodeError) -> tuple[str, int]:
    """Bytes a codec other than UTF-8 cannot decode, each as a lone surrogate (U+DCFF), which no
    text holds: surrogateescape keeps bytes of 0x80 and above only, and UTF-16's come in pairs."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\udcff" * (error.end - error.start), error.end


# Byte-order marks of the wide encodings, UTF-32 LE's first (it begins with UTF-16 LE's), and the codec
# that reads the text after them.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
WIDE_SAMPLE = 4096  # the bytes looked at to tell a wide encoding in JSON (CSV looks at more)


def wide_encoding(head: bytes) -> str | None:
    """UTF-16 or UTF-32 (a Python codec name) from the first bytes of a file, or None for neither.

    A byte-order mark says it (Windows PowerShell 5 writes UTF-16 LE with one wherever `>` redirects
    a command's output; Excel's "Unicode text" too). Without one, from where the NULs are: ASCII
    characters in UTF-16 LE have one at every odd offset (every fourth pair, UTF-32), and text in an
    8-bit encoding has none. Told from the NULs alone, so that a bad character (half of a surrogate
    pair, an odd byte at the end of a download cut short) is a reject in that encoding, not the file
    lost."""
    for bom, codec in _WIDE_BOMS:
        if head.startswith(bom):
            return codec
    quarter = len(head) // 4
    if not quarter:
        return None
    nuls = [head[i : quarter * 4 : 4].count(0) for i in range(4)]
    if nuls[2] + nuls[3] > 1.8 * quarter and nuls[0] * 2 < quarter:
        return "utf-32-le"
    if nuls[0] + nuls[1] > 1.8 * quarter and nuls[3] * 2 < quarter:
        return "utf-32-be"
    even, odd = nuls[0] + nuls[2], nuls[1] + nuls[3]
    if max(even, odd) * 2 > quarter and min(even, odd) * 10 < max(even, odd):  # in a quarter of the characters
        return "utf-16-le" if odd > even else "utf-16-be"
    return None


class Recoded(io.RawIOBase):
    """A stream of text in UTF-16 or UTF-32 as the UTF-8 bytes the JSON readers take. A code unit
    the encoding cannot decode becomes a byte 0xFF, which no UTF-8 holds and every JSON parser
    refuses (yajl takes an encoded lone surrogate): its record is rejected as a bad byte in a UTF-8
    file would be, never changed into something else."""

    _CHUNK = 1 << 16

    def __init__(self, stream: BinaryIO, encoding: str):
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(encoding)(errors=_UNDECODABLE)
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and not self._done:
            chunk = self._stream.read(self._CHUNK)
            self._done = not chunk
            text = self._decoder.decode(chunk, final=self._done)
            self._pending = memoryview(text.encode("utf-8", "surrogateescape"))  # U+DCFF: 0xFF
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _read_fully(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes of a stream, fewer only at its end (one read may give less)."""
    chunks, left = [], size
    while left and (chunk := stream.read(left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_BEYOND_ASCII = re.compile(rb"[\x80-\xff]")
_UNDECODABLE = "swell.undecodable"
codecs.register_error(_UNDECODABLE, _undecodable)


class InputFile:
    """An open input: `stream` gives the decompressed bytes, `position()` the bytes read from disk;
    `encoding` is UTF-16 or UTF-32 when the text is in one of them (`read_as_json`), else None."""

    resumable = True  # a file can be read again from where an interrupted ingest stopped

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as raw:
            plain_parquet = raw.read(len(_PARQUET)) == _PARQUET
        with self._reopened() as head:
            start = head.peek(NOT_POSTS_HEAD)[:NOT_POSTS_HEAD]
            self.encoding: str | None = None
            if plain_parquet:
                self.layout, self.first_line = "parquet", b""  # read by pyarrow, from its end (`readers.parquet`)
            elif what := not_posts(start):
                raise NotPosts(what)
            elif is_car(start):  # a Bluesky repository export: binary, read whole
                self.layout, self.first_line = "car", b""
            else:
                self.encoding = wide_encoding(head.peek(WIDE_SAMPLE)[:WIDE_SAMPLE])
                self.layout, self.first_line = sniff_layout(self._utf8(head))
        self.raw: Any = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        self.compression = _compression(self.raw)
        self._stream = self._decompressed(self.raw)
        self.stream = io.BufferedReader(self._stream, buffer_size=1 << 20)

    @classmethod
    def standard_input(cls, stream: BinaryIO | None = None) -> InputFile:
        """Standard input (or `stream`), read as JSON lines: it cannot be read twice to tell its layout,
        nor again after an interruption. gzip or zstd is told from its first bytes."""
        self = cls.__new__(cls)
        self.path = Path(STDIN)
        raw = stream if stream is not None else sys.stdin.buffer
        self.raw = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
        self.compression = _compression_of(self.raw.peek(4)[:4])
        self._stream = Decompressed(self.raw, self.compression) if self.compression else self.raw
        self.stream = io.BufferedReader(self._stream, buffer_size=1 << 20)
        if what := not_posts(self.stream.peek(NOT_POSTS_HEAD)[:NOT_POSTS_HEAD]):
            raise NotPosts(what)
        self.encoding = wide_encoding(self.stream.peek(WIDE_SAMPLE)[:WIDE_SAMPLE])
        self.layout, self.first_line = "jsonl", b""
        self.resumable = False
        return self

    def _utf8(self, stream: io.BufferedReader) -> io.BufferedReader:
        """`stream` as UTF-8: itself, or its text in `encoding` recoded."""
        if self.encoding is None:
            return stream
        return io.BufferedReader(Recoded(stream, self.encoding), buffer_size=1 << 20)

    def read_as_json(self) -> str | None:
        """Read `stream` as the UTF-8 the JSON readers take, before anything of it is read: recoded
        when the file is in UTF-16 or UTF-32. Returns that encoding, or None for UTF-8. (A CSV file
        is decoded by its reader instead, in whatever encoding it is in.)"""
        self.stream = self._utf8(self.stream)
        return self.encoding

    @staticmethod
    def _decompressed(raw: Any) -> Any:
        compression = _compression(raw)
        return Decompressed(raw, compression) if compression else raw

    @contextmanager
    def _reopened(self) -> Iterator[io.BufferedReader]:
        """The (decompressed) file from its start through a handle of its own, so that the reading of
        `stream` is left where it is."""
        with open(self.path, "rb") as raw:
            yield io.BufferedReader(self._decompressed(raw))

    def sample(self, size: int) -> bytes:
        """The first `size` bytes of the (decompressed) file, or all of a shorter one, read through a
        handle of their own: a peek at `stream` gives what happens to be buffered (for gzip, less
        than a MiB)."""
        with self._reopened() as stream:
            return _read_fully(stream, size)

    def sample_beyond_ascii(self, size: int) -> bytes:
        """`size` bytes from the start of the line where the file first has a byte beyond ASCII (none
        if it has none), for a file whose first `sample` is all ASCII: the file is read up to there,
        through a handle of its own."""
        with self._reopened() as stream:
            while chunk := stream.read(size):
                if (beyond := _BEYOND_ASCII.search(chunk)) is not None:
                    line = chunk.rfind(b"\n", 0, beyond.start()) + 1
                    return chunk[line:] + _read_fully(stream, line)
        return b""

    @property
    def damage(self) -> str | None:
        """Why the compressed data ended early (cut short, or corrupt), and where, if it did."""
        return getattr(self._stream, "damage", None)

    def position(self) -> int:
        """Bytes read from disk so far (0 for standard input, which has no size to compare with)."""
        return self.raw.tell() if self.resumable else 0

    def size(self) -> int:
        return self.path.stat().st_size if self.resumable else 0

    def close(self) -> None:
        self.stream.close()
        self.raw.close()

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def lines(self) -> Iterator[bytes | TooLong]:
        """The raw lines of a `jsonl` input (a leading byte-order mark removed); a line longer than
        MAX_LINE is not held: `TooLong` stands in its place."""
        readline, first = self.stream.readline, True
        while line := readline(MAX_LINE):
            if len(line) == MAX_LINE and not line.endswith(b"\n"):
                length, head = len(line), line[:TOO_LONG_KEPT]
                while (rest := readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    length += len(rest)
                yield TooLong(head, length + len(rest))
                continue
            if first:
                line = line.removeprefix(_BOM)
                first = False
            yield line

    def json_items(self) -> Iterator[object]:
        """The values of a `json` input: each top-level document, except that a top-level array gives
        its items one by one (an API response saved whole is never held whole). Any mix of arrays,
        objects and other values follows: nothing is skipped for not being what came first. An item
        nested deeper than MAX_DEPTH levels is not built: `TooDeep` stands in its place.

        Raises ijson.JSONError where the document stops being valid JSON; what came before is kept.
        """
        if self.stream.peek(3).startswith(_BOM):
            self.stream.read(3)
        # ijson's basic events (yajl in C): no path of prefixes kept per value, which costs memory
        # quadratic in the depth; numbers as Python ints of any size and Decimals (with floats, yajl
        # stops at an integer beyond 64 bits, and every later item would be lost).
        builder, depth, in_array, deepest = None, 0, False, 0
        for event, value in ijson.basic_parse(self.stream, multiple_values=True):
            if builder is None and deepest == 0:
                if depth == 0 and event == "start_array":  # a top-level array: its items are the values
                    in_array, depth = True, 1
                    continue
                if in_array and depth == 1 and event == "end_array":
                    in_array, depth = False, 0
                    continue
                builder = ijson.ObjectBuilder()
            depth += 1 if event in ("start_map", "start_array") else -1 if event in ("end_map", "end_array") else 0
            base = 1 if in_array else 0
            if depth - base > MAX_DEPTH:  # too deep to build: followed to its end, and only counted
                builder, deepest = None, max(deepest, depth - base)
            if builder is not None:
                builder.event(event, value)
            if depth == base:  # a top-level value, or an item of a top-level array, is whole
                yield builder.value if builder is not None else TooDeep(deepest)
                builder, deepest = None, 0

    def text(self, encoding: str = "utf-8") -> io.TextIOWrapper:
        """A text view for CSV, in `encoding` (a UTF-8 byte-order mark skipped); undecodable bytes are
        kept as surrogates, so that the CSV reader can set their record aside instead of changing it."""
        codec = "utf-8-sig" if encoding == "utf-8" else encoding
        errors = "surrogateescape" if codec.startswith("utf-8") else _UNDECODABLE
        # Kept on the object: a collected TextIOWrapper closes the stream under it.
        self._text = io.TextIOWrapper(self.stream, encoding=codec, errors=errors, newline="")
        return self._text
