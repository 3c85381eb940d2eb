"""Training loops (one readable loop per model) and self-describing checkpoints."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked, described in one line."""
