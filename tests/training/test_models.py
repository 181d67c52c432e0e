"""The model zoo builds real models with the reference shapes, and rejects bad hyper-parameters."""

from __future__ import annotations

import pytest
import torch

from workbench.errors import InvalidInput, NotFound
from workbench.training.models import build_model, describe_models, validate_model


@pytest.mark.parametrize(
    ("name", "hparams", "params"),
    [  # parameter counts of the reference architectures (torchvision's, 1000 classes)
        ("resnet18", {}, 11_689_512),
        ("resnet34", {}, 21_797_672),
        ("resnet50", {}, 25_557_032),
    ],
)
def test_resnets_match_reference_sizes(name, hparams, params):
    model = build_model(name, **hparams)
    assert sum(p.numel() for p in model.parameters()) == params
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize(
    ("name", "hparams", "x", "out"),
    [
        ("mlp", {"in_features": 64, "hidden": [32]}, (4, 1, 8, 8), (4, 10)),
        ("small_cnn", {}, (4, 1, 8, 8), (4, 10)),
        (
            "resnet18",
            {"num_classes": 10, "in_channels": 1, "small_input": True},
            (2, 1, 8, 8),
            (2, 10),
        ),
        (
            "unet",
            {"in_channels": 1, "num_classes": 3, "width": 8, "depth": 2},
            (2, 1, 16, 16),
            (2, 3, 16, 16),
        ),
    ],
)
def test_torch_models_forward_and_backward(name, hparams, x, out):
    model = build_model(name, **hparams)
    y = model(torch.randn(*x))
    assert tuple(y.shape) == out
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_unet_rejects_indivisible_sizes():
    model = build_model("unet", depth=3, width=4)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.randn(1, 3, 12, 12))


def test_keras_models_build():
    import keras

    small = build_model("keras_small_cnn", input_shape=(8, 8, 1), num_classes=10)
    assert small.output_shape == (None, 10)
    mobilenet = build_model("keras_mobilenet_v2", input_shape=(32, 32, 3), num_classes=5)
    assert mobilenet.output_shape == (None, 5)
    assert isinstance(mobilenet, keras.Model)


@pytest.mark.parametrize(
    ("name", "hparams", "message"),
    [
        ("small_cnn", {"num_classes": "10"}, "num_classes: Input should be a valid integer"),
        ("small_cnn", {"widht": 8}, "widht: Extra inputs are not permitted"),
        ("resnet50", {"num_classes": 1}, "num_classes: Input should be greater than or equal to 2"),
        ("mlp", {"dropout": 1.5}, "dropout: Input should be less than 1"),
        ("unet", {"depth": 9}, "depth: Input should be less than or equal to 6"),
    ],
)
def test_bad_hyperparameters_name_model_field_and_rule(name, hparams, message):
    with pytest.raises(InvalidInput, match=f"model '{name}': .*{message}"):
        validate_model(name, hparams)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(NotFound, match=r"unknown model 'resnet1'; known models: .*resnet18"):
        build_model("resnet1")


def test_describe_models_for_the_ui():
    described = {d["name"]: d for d in describe_models()}
    expected = {"mlp", "small_cnn", "resnet18", "resnet34", "resnet50", "unet"}
    expected |= {"keras_small_cnn", "keras_resnet50", "keras_mobilenet_v2"}
    assert expected <= set(described)
    schema = described["small_cnn"]["hyperparameters"]
    assert schema["properties"]["width"]["default"] == 32
    assert described["keras_resnet50"]["framework"] == "keras"


def test_a_segmentation_model_is_refused_for_images_with_one_label():
    from workbench.errors import InvalidInput
    from workbench.training.spec import check_spec, parse_spec

    spec = parse_spec({"name": "t", "model": {"name": "unet"}, "data": {"source": "digits"}})
    with pytest.raises(InvalidInput, match=r"'unet' does segmentation.*classification model"):
        check_spec(spec)
    assert {m["name"]: m["task"] for m in describe_models()}["unet"] == "segmentation"
