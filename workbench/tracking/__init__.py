"""Tracking: MLflow logging from rank 0, run queries for the UI, the model registry."""
