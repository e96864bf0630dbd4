"""Bluesky repository exports: the CAR file that `com.atproto.sync.getRepo` returns and that a user's
own data download is (CARv1 of DAG-CBOR blocks, decoded by libipld).

The file's root is the repository's signed commit (`did`, `data`: the root of its Merkle search
tree). The tree is walked from there, so that only the repository's current records are read (an
export may also carry blocks of earlier commits): each node has a left subtree `l` and entries `e`,
each with the rest of its key `k` after the `p` bytes it shares with the entry before, its record
`v` and the subtree `t` to its right. A key is COLLECTION/RKEY, a record's URI at://DID/KEY. Posts
and reposts become posts as the other Bluesky readers make them; other records (likes, follows,
profiles) are counted as ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from swell.readers.base import BadRecord, Sink, require_str
from swell.readers.bluesky import record_to_post, repost_to_post
from swell.times import parse_iso_time

NAME = "bluesky-car"
_POST, _REPOST = "app.bsky.feed.post", "app.bsky.feed.repost"


def repo_records(data: bytes) -> tuple[str, Iterator[tuple[str, object]]]:
    """The repository's DID, and its records in key order: (URI, the decoded record, or None where
    the export does not hold its block). ValueError when the file is not a repository CAR."""
    import libipld

    try:
        header, blocks = libipld.decode_car(data)
    except ValueError as exc:  # cut or corrupt: a CAR's blocks cannot be found past damage
        raise ValueError(f"a Bluesky repository (CAR) file that cannot be decoded: {exc}") from None
    roots = header.get("roots") or []
    commit = blocks.get(roots[0]) if roots else None
    if not isinstance(commit, dict) or not isinstance(commit.get("did"), str) or "data" not in commit:
        raise ValueError("a CAR file whose root is not a repository commit (no did and data)")
    did = commit["did"]
    keys = _walk(blocks, commit["data"])  # the whole tree first: a malformed one fails before any record
    return did, ((f"at://{did}/{key}", blocks.get(cid)) for key, cid in keys)


def _walk(blocks: dict, root: object) -> list[tuple[str, bytes]]:
    """(key, record CID) of the tree under `root`, in key order, without recursion, each node once (a
    hostile file could link a node to itself). ValueError for a node that is not a tree node."""
    found: list[tuple[str, bytes]] = []
    seen: set[bytes] = set()
    stack: list[object] = [root]  # a node's CID (bytes), or an entry's (key, CID), next on top
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            found.append(item)
            continue
        if not isinstance(item, bytes):
            raise ValueError(f"a malformed repository tree: a link that is {type(item).__name__}, not a CID")
        node = blocks.get(item)
        if item in seen or node is None:
            continue  # a subtree the export does not hold, or one already walked
        seen.add(item)
        entries = node.get("e") if isinstance(node, dict) else None
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise ValueError("a malformed repository tree: a node without its list of entries")
        ahead: list[object] = [node["l"]] if node.get("l") is not None else []
        key = b""
        for entry in entries:
            prefix, rest, record = entry.get("p"), entry.get("k"), entry.get("v")
            if not (isinstance(prefix, int) and isinstance(rest, bytes) and isinstance(record, bytes)):
                raise ValueError("a malformed repository tree: an entry without its key or record")
            key = key[:prefix] + rest
            ahead.append((key.decode("ascii", errors="replace"), record))
            if entry.get("t") is not None:
                ahead.append(entry["t"])
        stack.extend(reversed(ahead))
    return found


def parse(uri: str, record: object, source: str, sink: Sink) -> None:
    """One record of a repository: a post, a repost, or something counted as ignored."""
    did, collection = uri.split("/")[2:4]
    if record is None:
        sink.ignore(f"{NAME} record whose block the export does not hold")
        return
    if not isinstance(record, dict):
        raise BadRecord(f"{NAME} record must be a map, got {type(record).__name__}")
    if collection == _POST:
        sink.post(
            record_to_post(uri=uri, author_id=did, author_handle=None, record=record, seen_us=None, source=source)
        )
    elif collection == _REPOST:
        subject = record["subject"]
        created = require_str(record["createdAt"], "record.createdAt")
        sink.post(
            repost_to_post(
                uri=uri,
                author_id=did,
                author_handle=None,
                subject_uri=require_str(subject["uri"], "record.subject.uri"),
                created_us=parse_iso_time(created),
                source=source,
            )
        )
    else:
        sink.ignore(f"{NAME} {collection}")
