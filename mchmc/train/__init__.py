"""Training: configs, datasets and folds, the patch store, the two-phase
training loop, resumable runs with validation, and scheduled retraining (the
model versions it adds live beside the model files: mchmc.modelversions)."""
