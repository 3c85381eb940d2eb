"""Plain nn.Modules with a small config; each rebuilds from its config with `cls(config)`."""

from robolearn.models.grasp_cnn import GraspCNN, GraspCNNConfig
from robolearn.models.tcn import TCN, TCNConfig

MODELS = {"GraspCNN": (GraspCNN, GraspCNNConfig), "TCN": (TCN, TCNConfig)}

__all__ = ["MODELS", "TCN", "GraspCNN", "GraspCNNConfig", "TCNConfig"]
