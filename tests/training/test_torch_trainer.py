"""Torch checkpoints: plain state dicts that load with ``weights_only=True``; a checkpoint
that would run code when unpickled is refused before it can."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from workbench.errors import InvalidInput
from workbench.training.context import RunContext
from workbench.training.torch_trainer import _resume, _save_checkpoint, load_checkpoint


class Planted:
    """Unpickling this opens (so creates) a marker file: a stand-in for running any code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _context(tmp_path: Path, resume_from: Path | None = None) -> RunContext:
    return RunContext(0, 1, tmp_path, tmp_path / "ckpt", resume_from)


def _trained(optimizer_name: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    if optimizer_name == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
    for _ in range(2):  # optimizer state: momentum buffers / moments and step counts
        optimizer.zero_grad()
        model(torch.randn(8, 4)).sum().backward()
        optimizer.step()
    return model, optimizer


@pytest.mark.parametrize("optimizer_name", ["sgd", "adamw"])
def test_checkpoints_resume_with_weights_only_loading(tmp_path: Path, optimizer_name: str) -> None:
    model, optimizer = _trained(optimizer_name)
    _save_checkpoint(_context(tmp_path), model, optimizer, 6, "run-1")
    path = tmp_path / "ckpt" / "epoch-00006.pt"
    assert (tmp_path / "ckpt" / "LATEST").read_text().strip() == path.name
    state = load_checkpoint(path)
    assert (state["epoch"], state["run_id"]) == (6, "run-1")

    fresh, fresh_opt = _trained(optimizer_name)
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    assert _resume(_context(tmp_path, path), fresh, fresh_opt) == 7
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    saved, loaded = optimizer.state_dict(), fresh_opt.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    for key, values in saved["state"].items():
        for name, value in values.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded["state"][key][name]))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "epoch-00001.pt"
    torch.save({"model": Planted(marker), "optimizer": {}, "epoch": 1}, path)
    model, optimizer = _trained("sgd")
    with pytest.raises(InvalidInput, match=r"holds more than tensors and plain data.*open"):
        _resume(_context(tmp_path, path), model, optimizer)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # what the trainer used to do: the code runs
    assert marker.exists()


def test_a_file_that_is_no_checkpoint_is_named(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(InvalidInput, match=r"weights.pt is not a workbench checkpoint"):
        load_checkpoint(path)
