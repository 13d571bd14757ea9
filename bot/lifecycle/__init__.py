"""Customer lifecycle: the purchase model (BG/NBD family), RFM, stages, recompute, tasks."""
