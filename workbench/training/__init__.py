"""Training: model zoo, datasets, trainers for torch and Keras, model selection."""
