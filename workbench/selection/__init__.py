"""Model selection: Optuna studies over the model zoo, each trial a tracked training job.

Above jobs and tracking: ``spec`` (what a study searches), ``study`` (the Optuna loop over a
launcher), ``jobs`` (the launcher that submits each trial as a job and follows its MLflow run).
"""
