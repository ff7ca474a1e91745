"""Training: configs, datasets and folds, the patch store, the two-phase
training loop, resumable runs with validation, and model versions for
scheduled retraining."""
