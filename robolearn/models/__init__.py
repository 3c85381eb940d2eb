"""Plain nn.Modules with a small config; each rebuilds from its config with `cls(config)`."""

from robolearn.models.grasp_cnn import GraspCNN, GraspCNNConfig

MODELS = {"GraspCNN": (GraspCNN, GraspCNNConfig)}

__all__ = ["MODELS", "GraspCNN", "GraspCNNConfig"]
