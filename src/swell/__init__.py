"""swell: watch hashtag campaigns on social media - trends, campaigns and coordination, from archives
and live streams.

The Python API, for notebooks and scripts (docs/python-api.md has worked examples):

- stores: `Store` (a DuckDB file of posts), `open_engine` (a store as the analyses see it, on DuckDB
  or Spark), `ingest_files` (files, folders or standard input into a store; `Ingest` for finer
  control), `Selection` (a time range, a platform, hashtags);
- trends: `TrendStream` (posts or counts in, trend episodes out), `make_detector`, `DETECTORS`,
  `trends_over_store`;
- campaigns: `CampaignQuery`, `analyse_campaign`, `overview`, `describe`, and their HTML pages,
  `campaign_page` and `store_page`;
- coordination: `co_action_network`, `clusters`, `coordination_report` (`CoordinationReport`);
- simulated streams: `Simulation`, `Campaign`, `generate`;
- the unified post: `Post`, `POST_SCHEMA`; the errors a user can fix: `SwellError`.

Names are imported when first used, so that `import swell` (and the command line) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> (module, attribute)
_API = {
    "Store": ("swell.store", "Store"),
    "open_engine": ("swell.engine", "open_engine"),
    "ingest_files": ("swell.ingest", "ingest_files"),
    "Ingest": ("swell.ingest", "Ingest"),
    "IngestReport": ("swell.ingest", "IngestReport"),
    "Selection": ("swell.selection", "Selection"),
    "TrendStream": ("swell.trends", "TrendStream"),
    "make_detector": ("swell.trends", "make_detector"),
    "DETECTORS": ("swell.trends", "DETECTORS"),
    "trends_over_store": ("swell.trends", "trends_over_store"),
    "CampaignQuery": ("swell.campaign", "CampaignQuery"),
    "analyse_campaign": ("swell.campaign", "analyse"),
    "overview": ("swell.campaign", "overview"),
    "describe": ("swell.campaign", "describe"),
    "campaign_page": ("swell.html_report", "campaign_page"),
    "store_page": ("swell.html_report", "store_page"),
    "co_action_network": ("swell.coordination", "co_action_network"),
    "clusters": ("swell.coordination", "clusters"),
    "coordination_report": ("swell.coordination", "coordination_report"),
    "CoordinationReport": ("swell.coordination", "CoordinationReport"),
    "Simulation": ("swell.simulate", "Simulation"),
    "Campaign": ("swell.simulate", "Campaign"),
    "generate": ("swell.simulate", "generate"),
    "Post": ("swell.model", "Post"),
    "POST_SCHEMA": ("swell.model", "POST_SCHEMA"),
    "SwellError": ("swell.errors", "SwellError"),
}
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'swell' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from swell.campaign import CampaignQuery, describe, overview
    from swell.campaign import analyse as analyse_campaign
    from swell.coordination import CoordinationReport, clusters, co_action_network, coordination_report
    from swell.engine import open_engine
    from swell.errors import SwellError
    from swell.html_report import campaign_page, store_page
    from swell.ingest import Ingest, IngestReport, ingest_files
    from swell.model import POST_SCHEMA, Post
    from swell.selection import Selection
    from swell.simulate import Campaign, Simulation, generate
    from swell.store import Store
    from swell.trends import DETECTORS, TrendStream, make_detector, trends_over_store
