"""A user architecture loaded by dotted path (tests the plugin contract from outside the package)."""
from dataclasses import dataclass, field

import torch
from torch import nn

TASKS = ("regression", "classification")


@dataclass
class ArchArgs:
    hidden: int = field(default=8, metadata={"ge": 1})


class Model(nn.Module):
    def __init__(self, input_dim, output_dim, task_name, args=None):
        super().__init__()
        args = args or ArchArgs()
        self.output_dim = list(output_dim)
        n_in = 1
        for d in input_dim:
            n_in *= d
        n_out = 1
        for d in output_dim:
            n_out *= d
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, args.hidden), nn.ReLU(), nn.Linear(args.hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0], *self.output_dim)
