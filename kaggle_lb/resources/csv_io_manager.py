"""Stores raw leaderboards as readable `.csv` files, one per competition, byte for byte."""

import os
import tempfile
from pathlib import Path

from dagster import AssetKey, ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field


class CsvFileIOManager(ConfigurableIOManager):
    """Writes `bytes` outputs to `<base_dir>/<asset>/<partition>.csv` and reads them back."""

    base_dir: str = Field(description="Directory holding one folder per asset (under KAGGLE_LB_HOME).")

    def _path(self, asset_key: AssetKey, partition_key: str) -> Path:
        return Path(self.base_dir, *asset_key.path, f"{partition_key}.csv")

    def remove(self, asset_key: AssetKey, partition_key: str) -> None:
        """Delete the file stored for a partition, if there is one: its competition is gone."""
        self._path(asset_key, partition_key).unlink(missing_ok=True)

    def handle_output(self, context: OutputContext, obj: bytes) -> None:
        path = self._path(context.asset_key, context.asset_partition_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(obj)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        context.add_output_metadata({"path": str(path)})

    def load_input(self, context: InputContext) -> bytes:
        return self._path(context.asset_key, context.asset_partition_key).read_bytes()
