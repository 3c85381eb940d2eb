"""Data: the zarr episode store (time-first, crash-safe), datasets of shards, the training streams."""

from robolearn.data.dataset import Dataset, open_dataset
from robolearn.data.store import SCHEMA_VERSION, EpisodeStore, Feature, StoreError

__all__ = ["SCHEMA_VERSION", "Dataset", "EpisodeStore", "Feature", "StoreError", "open_dataset"]
