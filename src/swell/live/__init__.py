"""Live sources: connectors that read open streams into the store, and a replay server for tests.

- `jetstream`: Bluesky's Jetstream (JSON over WebSocket), resumed from the cursor stored with the
  posts, so a drop or a restart loses nothing and stores nothing twice;
- `mastodon`: a Mastodon instance's streaming API, caught up from its REST timelines after each
  connection;
- `connector`: what both share (reconnecting with backoff, batching, stopping);
- `writer`: the batches on their way to the store, behind a bounded queue;
- `session`: a watch from start to stop (signals, the trends of what is committed);
- `replay`: a local server that plays a file of Jetstream events as Jetstream does (honouring
  `cursor` and `wantedCollections`), or of Mastodon statuses as an instance does, and can drop
  connections and send malformed frames on purpose.
"""
