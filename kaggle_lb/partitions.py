"""One partition per registered competition, keyed by its Kaggle slug."""

from dagster import DynamicPartitionsDefinition

COMPETITIONS = "competitions"
competitions_partitions = DynamicPartitionsDefinition(name=COMPETITIONS)
