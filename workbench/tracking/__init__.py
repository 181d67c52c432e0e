"""Tracking: MLflow logging from rank 0, run queries for the UI, the model registry.

Import the submodules (``client``, ``runs``, ``queries``) directly: the package
itself imports nothing, so commands that never touch MLflow start fast.
"""
