"""The tags kaggle-lb puts on the runs it starts, for the UI's run list and for its own reads."""

# Who asked for a run, and why.
TRIGGER_TAG = "kaggle_lb/trigger"
SCHEDULED = "schedule"
NEW_COMPETITION = "new competition"
CLI = "cli"
# The alert sensor's run of the freshness check alone, for a stale competition: it syncs nothing.
STALE = "stale"
# On each sync run a batch starts: the batch's run id.
BATCH_TAG = "kaggle_lb/batch"
