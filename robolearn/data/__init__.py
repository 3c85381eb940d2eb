"""Data: the zarr episode store (time-first, crash-safe), and later loaders and viewers."""

from robolearn.data.store import SCHEMA_VERSION, EpisodeStore, Feature, StoreError

__all__ = ["SCHEMA_VERSION", "EpisodeStore", "Feature", "StoreError"]
