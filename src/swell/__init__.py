"""swell: watch hashtag campaigns on social media.

The Python API: `Store(path).posts()` returns the stored posts as an Arrow table
(`posts_polars()` as a polars frame); `Ingest(store).run(paths)` reads files into a store.
"""

from swell.ingest import Ingest
from swell.model import POST_SCHEMA, Post
from swell.store import Store

__version__ = "0.1.0"
__all__ = ["POST_SCHEMA", "Ingest", "Post", "Store", "__version__"]
