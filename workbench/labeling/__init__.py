"""Labeling: a managed Label Studio fed from datasets, pre-labels, active learning, exports."""
