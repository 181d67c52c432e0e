"""Keras 3 entries of the model registry (TensorFlow/Keras imported when a model is built)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workbench.training.models.registry import ModelEntry, register


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class KerasSmallCNNParams(_Params):
    input_shape: tuple[int, int, int] = Field((8, 8, 1), description="height, width, channels")
    num_classes: int = Field(10, ge=2)
    width: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class KerasApplicationParams(_Params):
    input_shape: tuple[int, int, int] = Field((224, 224, 3), description="height, width, channels")
    num_classes: int = Field(1000, ge=2)


def _small_cnn(
    input_shape: tuple[int, int, int], num_classes: int, width: int, dropout: float
) -> Any:
    import keras

    def block(filters: int) -> list[Any]:
        return [
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
        ]

    return keras.Sequential(
        [
            keras.Input(input_shape),
            *block(width),
            *block(2 * width),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(num_classes),
        ],
        name="small_cnn",
    )


def _application(name: str) -> Any:
    def build(input_shape: tuple[int, int, int], num_classes: int) -> Any:
        import keras

        factory = getattr(keras.applications, name)
        # weights=None: nothing is downloaded; logits out (no softmax) like the torch models.
        return factory(
            weights=None, input_shape=input_shape, classes=num_classes, classifier_activation=None
        )

    return build


register(
    ModelEntry(
        "keras_small_cnn",
        "keras",
        "Keras two-block CNN; any image size.",
        KerasSmallCNNParams,
        _small_cnn,
    )
)
register(
    ModelEntry(
        "keras_resnet50",
        "keras",
        "keras.applications.ResNet50, weights=None.",
        KerasApplicationParams,
        _application("ResNet50"),
    )
)
register(
    ModelEntry(
        "keras_mobilenet_v2",
        "keras",
        "keras.applications.MobileNetV2, weights=None.",
        KerasApplicationParams,
        _application("MobileNetV2"),
    )
)
