"""Training loops (one readable loop per model) on the shared skeleton of robolearn.train.run."""
