"""A study small enough for the tests: two models, twelve trials on digits."""

SELECTION = {
    "name": "digits-select",
    "experiment": "digits-selection",
    "base": {"data": {"source": "digits"}, "train": {"epochs": 3, "batch_size": 64}},
    "models": {
        "mlp": {"hidden": {"categorical": [[32], [128, 64]]}},
        "small_cnn": {"width": {"int": [4, 16], "log": True}},
    },
    "search": {"lr": {"float": [0.001, 0.3], "log": True}},
    "metric": "test_accuracy",
    "trials": 12,
    "parallel": 2,
    "pruner": "asha",
    "register_model": "digits-best",
}
