"""Live sources: connectors that read open streams into the store, and a replay server for tests.

- `jetstream`: Bluesky's Jetstream (JSON over WebSocket, v1 `/subscribe` or v2 `subscribeEvents`,
  zstd-compressed or not), resumed from the cursor stored with the posts, so a drop or a restart
  loses nothing and stores nothing twice, and a resume the server no longer has is a stored gap;
- `jetstream_wire`: the two Jetstream wires (framing, cursors, dictionaries), for the connector and
  the replay server; `dictionaries/`: Jetstream's zstd dictionaries;
- `mastodon`: a Mastodon instance's streaming API, caught up from its REST timelines after each
  connection;
- `connector`: what both share (reconnecting with backoff, batching, stopping);
- `writer`: the batches on their way to the store, behind a bounded queue;
- `session`: a watch from start to stop (signals, the trends of what is committed);
- `replay`: a local server that plays a file of Jetstream events as Jetstream v2 does at both its
  endpoints (cursors, filters, compression, a lookback floor), or of Mastodon statuses as an
  instance does, and can refuse and drop connections and send malformed and error frames on purpose.
"""
