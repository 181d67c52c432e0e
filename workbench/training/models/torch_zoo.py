"""PyTorch entries of the model registry (torch is imported when a model is built)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workbench.training.models.registry import ModelEntry, register


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MLPParams(_Params):
    in_features: int = Field(64, ge=1, description="flattened input size (digits: 64)")
    hidden: list[int] = Field([128, 64], description="width of each hidden layer")
    num_classes: int = Field(10, ge=2)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class SmallCNNParams(_Params):
    in_channels: int = Field(1, ge=1)
    num_classes: int = Field(10, ge=2)
    width: int = Field(32, ge=1, description="channels of the first block (second: 2x)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class ResNetParams(_Params):
    num_classes: int = Field(1000, ge=2)
    in_channels: int = Field(3, ge=1)
    small_input: bool = Field(False, description="3x3 stem, no max-pool: for images <= 32 px")


class UNetParams(_Params):
    in_channels: int = Field(3, ge=1)
    num_classes: int = Field(2, ge=1, description="output channels (per-pixel classes)")
    width: int = Field(32, ge=1)
    depth: int = Field(4, ge=1, le=6, description="down/up levels; H, W divisible by 2**depth")


def _mlp(**p: Any) -> Any:
    from workbench.training.models.torch_basic import MLP

    return MLP(**p)


def _small_cnn(**p: Any) -> Any:
    from workbench.training.models.torch_basic import SmallCNN

    return SmallCNN(**p)


def _resnet(name: str) -> Any:
    def build(**p: Any) -> Any:
        from workbench.training.models.torch_resnet import resnet

        return resnet(name, **p)

    return build


def _unet(**p: Any) -> Any:
    from workbench.training.models.torch_unet import UNet

    return UNet(**p)


register(ModelEntry("mlp", "torch", "Multi-layer perceptron on flattened inputs.", MLPParams, _mlp))
register(
    ModelEntry(
        "small_cnn",
        "torch",
        "Two conv blocks + classifier; any image size.",
        SmallCNNParams,
        _small_cnn,
    )
)
for _depth in (18, 34, 50):
    register(
        ModelEntry(
            f"resnet{_depth}",
            "torch",
            f"ResNet-{_depth} (He et al.), no pretrained weights.",
            ResNetParams,
            _resnet(f"resnet{_depth}"),
        )
    )
register(
    ModelEntry(
        "unet", "torch", "U-Net for per-pixel segmentation.", UNetParams, _unet,
        task="segmentation",
    )
)  # fmt: skip
