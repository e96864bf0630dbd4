"""Make 4CAT's exports of swell's real samples by running 4CAT's own code over them.

No real 4CAT export was found in a public repository (see SOURCE.md), so the files here are what
4CAT itself writes for these posts: its item code (`format_import_item`, the X API v2 datasource's
`enrich_tweet`, the atproto SDK's `model_dump()` as the Bluesky datasource calls it) makes the
NDJSON items, and each datasource's own `map_item`, written by `csv.DictWriter` as 4CAT's "download
as CSV" route writes it, makes the CSV. 4CAT's code is read from a checkout given on the command line
(it is MPL-2.0 and not copied here); only the modules 4CAT's map_item does not use are stubbed.

    python make_4cat_exports.py /path/to/4cat-checkout   # needs atproto and python-dateutil

It writes, next to itself: x-import.ndjson/.csv, x-api-v2.ndjson/.csv, bluesky.ndjson/.csv, and
each pseudonymised as 4CAT's "Pseudonymise" processor does it (`*-pseudonymised.ndjson/.csv`).
"""

from __future__ import annotations

import ast
import copy
import csv
import fnmatch
import hashlib
import importlib.util
import json
import sys
import types
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE.parent


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


class _Anything:
    """Stands for what a datasource module imports and its map_item never uses (UserInput and its
    option types, in the classes' settings)."""

    def __init__(self, *args, **kwargs):
        pass

    def __class_getitem__(cls, name):
        return name

    OPTION_TEXT = OPTION_TEXT_LARGE = OPTION_INFO = OPTION_DIVIDER = OPTION_DATERANGE = "option"
    OPTION_CHOICE = OPTION_TOGGLE = OPTION_MULTI = OPTION_MULTI_SELECT = "option"


def _real_functions(path: Path, names: set[str]) -> dict:
    """Functions of 4CAT's common/lib/helpers.py, taken whole from its source (the module itself
    imports a server's worth of packages)."""
    tree = ast.parse(path.read_text())
    chosen = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names]
    namespace: dict = {"copy": copy, "fnmatch": fnmatch}
    exec("import re\nfrom html.parser import HTMLParser\nfrom urllib.parse import urlparse, urlunparse", namespace)
    exec(compile(ast.Module(body=chosen, type_ignores=[]), str(path), "exec"), namespace)
    return {name: namespace[name] for name in names}


def load_4cat(root: Path) -> dict[str, type]:
    helpers = _real_functions(
        root / "common/lib/helpers.py",
        {"strip_tags", "normalize_url_encoding", "format_import_item", "dict_search_and_update", "HashCache"},
    )
    for package in ("backend", "backend.lib", "common", "common.lib"):
        _module(package, __path__=[])
    _module("backend.lib.search", Search=object)
    _module("requests")  # what the X API v2 datasource collects with; its map_item does not use it
    _module("common.lib.exceptions", __getattr__=lambda name: type(name, (Exception,), {}))
    _module("common.lib.user_input", UserInput=_Anything)
    _module("common.lib.helpers", UserInput=_Anything, convert_to_int=int, timify=str, **helpers)
    spec = importlib.util.spec_from_file_location("common.lib.item_mapping", root / "common/lib/item_mapping.py")
    item_mapping = importlib.util.module_from_spec(spec)
    sys.modules["common.lib.item_mapping"] = item_mapping
    spec.loader.exec_module(item_mapping)
    classes = {}
    for key, path, name in (
        ("x-import", "datasources/twitter-import/search_twitter.py", "SearchTwitterViaZeeschuimer"),
        ("x-api-v2", "datasources/twitterv2/search_twitter.py", "SearchWithTwitterAPIv2"),
        ("bluesky", "datasources/bsky/search_bsky.py", "SearchBluesky"),
    ):
        spec = importlib.util.spec_from_file_location(f"fourcat_{key}", root / path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        classes[key] = getattr(module, name)
    classes.update(helpers)
    return classes


def x_import_items(fourcat: dict) -> list[dict]:
    """A Zeeschuimer capture imported into 4CAT, as backend/lib/search.py's import does it: each
    line through format_import_item, then through map_item to check it, which changes the item in
    place (a retweet's full_text, a quote's visibility wrapper) before it is written."""
    items = []
    for line in (DATA / "x-web" / "zeeschuimer-x-home-timeline.ndjson").read_text().splitlines():
        item = fourcat["format_import_item"](json.loads(line))
        fourcat["x-import"].map_item(item)
        items.append(item)
    return items


def x_api_v2_items(fourcat: dict) -> list[dict]:
    """X API v2 response pages as the datasource's get_items handles each: every tweet of `data`
    through enrich_tweet with the page's includes and the errors it lists as missing objects; then,
    for the id lookup, its error through fix_tweet_error, as get_items does for an id it asked for
    and did not get (here the error is of the tweet the looked-up one replies to: see SOURCE.md)."""
    search = object.__new__(fourcat["x-api-v2"])
    items = []
    pages = [DATA / "twitter-v2" / "two_tweets.jsonl", DATA / "twitter-v2" / "streaming_output_with_error.jsonl"]
    for path in [*pages, HERE / "twarc-csv-withheld-lookup.jsonl"]:
        for line in path.read_text().splitlines():
            try:
                page = json.loads(line)
            except json.JSONDecodeError:  # the file's last line is cut short: no page
                continue
            includes = page.get("includes", {})
            missing: dict = {}
            for error in page.get("errors", {}):
                missing.setdefault(error.get("resource_type", "unknown"), {})[error.get("resource_id")] = error
            data = page["data"] if isinstance(page["data"], list) else [page["data"]]  # a stream sends one
            for tweet in data:
                items.append(
                    search.enrich_tweet(
                        tweet,
                        includes.get("users", {}),
                        includes.get("media", {}),
                        includes.get("polls", {}),
                        includes.get("places", {}),
                        includes.get("tweets", {}),
                        missing,
                    )
                )
    lookup = json.loads((HERE / "twarc-csv-withheld-lookup.jsonl").read_text())
    items.append(search.fix_tweet_error(lookup["errors"][0]))
    return items


def bluesky_items(fourcat: dict) -> list[dict]:
    """searchPosts results as the Bluesky datasource keeps them: the atproto SDK's model, dumped,
    with 4CAT's metadata. The handles 4CAT looks up for mentions and replies are taken from the
    posts' own authors where the sample has them, and are None (as when 4CAT's lookup fails)
    otherwise; collected_at is the last post's indexedAt, the query the sample's hashtag."""
    from atproto_client import models
    from atproto_client.models.utils import get_or_create

    text = (DATA / "bluesky" / "twitwi-bluesky-posts.head.json").read_text()
    views = json.loads(text.rstrip().rstrip(",") + "\n]")  # the head of a JSON array (see its SOURCE.md)
    response = get_or_create({"posts": views}, models.AppBskyFeedSearchPosts.Response, strict=False)
    handles = {view["author"]["did"]: view["author"]["handle"] for view in views}
    collected = max(fourcat["bluesky"].bsky_convert_datetime_string(v["indexedAt"]) for v in views).timestamp()
    items = []
    for rank, post in enumerate(response.posts):
        item = post.model_dump()
        mentions = [
            {"did": feature["did"], "handle": handles.get(feature["did"])}
            for facet in item["record"].get("facets") or []
            for feature in facet.get("features", {})
            if feature.get("did")
        ]
        reply = item["record"].get("reply")
        item["4CAT_metadata"] = {
            "collected_at": collected,
            "query": "#HCERES",
            "rank": rank,
            "mentions": mentions,
            "reply_to": handles.get(reply["parent"]["uri"].split("/")[2]) if reply else None,
        }
        items.append(item)
    return items


def pseudonymised(fourcat: dict, items: list[dict]) -> list[dict]:
    """processors/conversion/remove_author_info.py on an NDJSON dataset, mode "pseudonymise", its
    default fields: every value under an author* or user* key hashed by a HashCache. 4CAT salts the
    hash with 16 random bytes; a fixed salt here makes the files the same on every run."""
    cache = fourcat["HashCache"](hashlib.blake2b(digest_size=24, salt=b"swell tests salt"))
    return [fourcat["dict_search_and_update"](item, ["author*", "user*"], cache.update_cache) for item in items]


def write(name: str, items: list[dict], datasource: type, ensure_ascii: bool = True) -> None:
    """The NDJSON as items_to_ndjson writes it (the pseudonymise processor: without ensure_ascii)."""
    with (HERE / f"{name}.ndjson").open("w", encoding="utf-8", newline="") as out:
        for item in items:
            out.write(json.dumps(item, ensure_ascii=ensure_ascii) + "\n")
    with (HERE / f"{name}.csv").open("w", encoding="utf-8", newline="") as out:  # views_dataset.get_mapped_result
        writer = None
        for item in items:
            try:
                mapped = datasource.map_item(json.loads(json.dumps(item)))  # read back from the NDJSON
            except (KeyError, IndexError):  # get_mapped_item's MapItemException: iterate_items skips it
                continue
            for name in mapped.get_missing_fields():  # iterate_items' default for a missing field
                mapped.data[name] = mapped.data[name].value
            mapped = mapped.data
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(mapped.keys()))
                writer.writeheader()
            writer.writerow(mapped)


def main() -> None:
    fourcat = load_4cat(Path(sys.argv[1]))
    exports = {
        "x-import": x_import_items(fourcat)[:10],  # the first quote is the ninth: enough to pseudonymise
        "x-api-v2": x_api_v2_items(fourcat),
        "bluesky": bluesky_items(fourcat),
    }
    for name, items in exports.items():
        if name != "x-import":
            write(name, items, fourcat[name])
        write(f"{name}-pseudonymised", pseudonymised(fourcat, items), fourcat[name], ensure_ascii=False)
    write("x-import", x_import_items(fourcat), fourcat["x-import"])


if __name__ == "__main__":
    main()
