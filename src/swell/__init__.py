"""swell: watch hashtag campaigns on social media - trends, campaigns and coordination, from archives
and live streams.

The Python API, for notebooks and scripts (docs/python-api.md has worked examples):

- stores: `Store` (a DuckDB file of posts), `open_engine` (a store as the analyses see it, on DuckDB
  or Spark), `ingest_files` (files, folders or standard input into a store; `Ingest` for finer
  control), `Selection` (a time range, a platform, hashtags);
- trends: `TrendStream` (posts or counts in, trend episodes out, at several time scales),
  `trends_over_store`, and the detectors, `DETECTORS` and `make_detector` (`swell.detectors`);
  scoring detection against labelled onsets: `swell.evaluation`;
- campaigns: `CampaignQuery`, `analyse_campaign`, `overview`, `describe`, and their HTML pages,
  `campaign_page` and `store_page`; `assess_trends` (each trend's posts assessed as a campaign);
- coordination: `co_action_network`, `clusters`, `coordination_report` (`CoordinationReport`);
- simulated streams: `Simulation`, `Campaign`, `generate`;
- the unified post: `Post`, `POST_SCHEMA`; the errors a user can fix: `SwellError`.

Names are imported when first used, so that `import swell` (and the command line) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from swell.threads import bound_polars

__version__ = "0.1.0"

bound_polars()  # before any module of swell imports polars

# public name -> (module, attribute)
_API = {
    "Store": ("swell.store", "Store"),
    "open_engine": ("swell.engine", "open_engine"),
    "ingest_files": ("swell.ingest", "ingest_files"),
    "Ingest": ("swell.ingest", "Ingest"),
    "IngestReport": ("swell.ingest", "IngestReport"),
    "Selection": ("swell.selection", "Selection"),
    "TrendStream": ("swell.trends", "TrendStream"),
    "make_detector": ("swell.detectors", "make_detector"),
    "DETECTORS": ("swell.detectors", "DETECTORS"),
    "trends_over_store": ("swell.trends", "trends_over_store"),
    "CampaignQuery": ("swell.campaign", "CampaignQuery"),
    "analyse_campaign": ("swell.campaign", "analyse"),
    "overview": ("swell.campaign", "overview"),
    "describe": ("swell.contents", "describe"),
    "campaign_page": ("swell.html_report", "campaign_page"),
    "store_page": ("swell.html_report", "store_page"),
    "co_action_network": ("swell.coordination", "co_action_network"),
    "clusters": ("swell.coordination", "clusters"),
    "coordination_report": ("swell.coordination", "coordination_report"),
    "CoordinationReport": ("swell.coordination", "CoordinationReport"),
    "assess_trends": ("swell.campaign", "assess_trends"),
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
    from swell.campaign import CampaignQuery as CampaignQuery
    from swell.campaign import analyse as analyse_campaign  # noqa: F401 - the public name
    from swell.campaign import assess_trends as assess_trends
    from swell.campaign import overview as overview
    from swell.contents import describe as describe
    from swell.coordination import CoordinationReport as CoordinationReport
    from swell.coordination import clusters as clusters
    from swell.coordination import co_action_network as co_action_network
    from swell.coordination import coordination_report as coordination_report
    from swell.detectors import DETECTORS as DETECTORS
    from swell.detectors import make_detector as make_detector
    from swell.engine import open_engine as open_engine
    from swell.errors import SwellError as SwellError
    from swell.html_report import campaign_page as campaign_page
    from swell.html_report import store_page as store_page
    from swell.ingest import Ingest as Ingest
    from swell.ingest import IngestReport as IngestReport
    from swell.ingest import ingest_files as ingest_files
    from swell.model import POST_SCHEMA as POST_SCHEMA
    from swell.model import Post as Post
    from swell.selection import Selection as Selection
    from swell.simulate import Campaign as Campaign
    from swell.simulate import Simulation as Simulation
    from swell.simulate import generate as generate
    from swell.store import Store as Store
    from swell.trends import TrendStream as TrendStream
    from swell.trends import trends_over_store as trends_over_store
