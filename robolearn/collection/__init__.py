"""Running policies in envs at scale: recording episodes with their labels, into episode stores."""
