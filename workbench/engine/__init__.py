"""The training engine: a pure library (numpy + mpi4py).

Synchronous data-parallel collectives over MPI and tensor swapping. Nothing here
imports Jupyter, MLflow, Label Studio or pydantic; torch and TensorFlow are imported
only inside the framework adapters (``workbench.engine.torch`` / ``.keras``).
"""
