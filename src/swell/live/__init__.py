"""Live sources: connectors that read open streams into the store, and a replay server for tests.

- `jetstream`: Bluesky's Jetstream (JSON over WebSocket), resumed from the cursor stored with the
  posts, so a drop or a restart loses nothing and stores nothing twice;
- `writer`: the batches on their way to the store, behind a bounded queue;
- `replay`: a local server that plays a file of Jetstream events as Jetstream does, honouring
  `cursor` and `wantedCollections`, and can drop connections and send malformed frames on purpose.
"""
