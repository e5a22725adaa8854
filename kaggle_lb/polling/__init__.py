"""Polling Kaggle at scale: a batch of competitions per run, each board's fingerprint compared with
what its standings were computed from, a run only for the boards that changed, and one shared
pace for every request to Kaggle."""
