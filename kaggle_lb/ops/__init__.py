"""Jobs made of ops, not assets: the batch that polls many competitions per run."""
