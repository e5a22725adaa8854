"""One partition per registered competition, keyed by its Kaggle slug."""

from dagster import DynamicPartitionsDefinition

competitions_partitions = DynamicPartitionsDefinition(name="competitions")
