"""Data: random-access sources (synthetic scenes, CamVid), augmentation, sampling, the pipeline."""
