"""A typical ``horovod.torch`` MNIST script, with only the import changed (digits, no download).

Prints one JSON line per epoch (averaged loss) and one with a digest of the final weights.
"""

from __future__ import annotations

import hashlib
import json

import torch
import torch.nn.functional as F
from torch import nn

import workbench.engine.torch as hvd
from workbench.training.data import digits


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.bn = hvd.SyncBatchNorm(8)
        self.fc1 = nn.Linear(8 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def main() -> None:
    hvd.init()
    torch.set_num_threads(1)
    torch.manual_seed(42 + hvd.rank())  # different init per rank: broadcast must fix it
    data = digits()
    images = torch.from_numpy(data.images)
    labels = torch.from_numpy(data.labels)
    mine = torch.arange(hvd.rank(), len(labels), hvd.size())  # DistributedSampler-like shard
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05 * hvd.size(), momentum=0.9)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    optimizer = hvd.DistributedOptimizer(
        optimizer,
        named_parameters=model.named_parameters(),
        compression=hvd.Compression.none,
        op=hvd.Average,
    )
    for epoch in range(3):
        model.train()
        order = mine[torch.randperm(len(mine), generator=torch.Generator().manual_seed(epoch))]
        total = torch.zeros(())
        for start in range(0, len(order) - 31, 32):
            batch = order[start : start + 32]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.detach()
        avg = hvd.allreduce(total, name="epoch_loss")
        print(json.dumps({"epoch": epoch, "loss": float(avg)}), flush=True)
    state = b"".join(t.detach().numpy().tobytes() for t in model.state_dict().values())
    print(json.dumps({"weights": hashlib.sha256(state).hexdigest()}), flush=True)
    hvd.shutdown()


if __name__ == "__main__":
    main()
