"""A deliberately broken architecture: its output turns NaN after a number of training batches
(the way a diverging model does), to test the NaN guard with the real Trainer."""
from dataclasses import dataclass, field

import torch
from torch import nn

TASKS = ("regression",)


@dataclass
class ArchArgs:
    nan_after_batches: int = field(default=10, metadata={"ge": 0})


class Model(nn.Module):
    def __init__(self, input_dim, output_dim, task_name, args=None):
        super().__init__()
        self.args = args or ArchArgs()
        self.output_dim = list(output_dim)
        n_in = int(torch.tensor(input_dim).prod())
        n_out = int(torch.tensor(output_dim).prod())
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_out))
        self.register_buffer("batches", torch.zeros((), dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x).reshape(x.shape[0], *self.output_dim)
        if self.training:
            self.batches += 1
            if self.batches > self.args.nan_after_batches:
                out = out * float("nan")
        return out
