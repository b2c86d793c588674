"""Content-addressed artifact store on a local directory (or any mounted shared volume).

Objects are named by their sha256, so writing the same bytes twice is a no-op (a retried step
never duplicates an artifact) and every read checks the bytes still match the name.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse
from urllib.request import url2pathname

from mlwright.contracts.refs import ArtifactRef, DatasetRef
from mlwright.errors import ArtifactIntegrityError
from mlwright.private import DIR_MODE, private_dir

if TYPE_CHECKING:
    import pandas as pd


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(Path(root).resolve())
        os.chmod(self.root, DIR_MODE)  # the store's own directory, even if an older version made it 0755

    def put_bytes(self, data: bytes, suffix: str = "") -> ArtifactRef:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest, suffix)
        if not path.exists():
            private_dir(path.parent)
            # Write then rename, so a crash mid-write never leaves a truncated object under its hash.
            # NamedTemporaryFile creates the file 0600, and the rename keeps the mode.
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, path)
        return ArtifactRef(uri=path.as_uri(), sha256=digest, size_bytes=len(data))

    def get_bytes(self, ref: ArtifactRef) -> bytes:
        path = _uri_path(ref.uri)
        try:
            data = path.read_bytes()
        except FileNotFoundError as e:
            raise ArtifactIntegrityError(f"artifact {ref.sha256[:12]} is missing at {path}", uri=ref.uri) from e
        actual = hashlib.sha256(data).hexdigest()
        if actual != ref.sha256:
            raise ArtifactIntegrityError(
                f"artifact at {path} has sha256 {actual[:12]}, expected {ref.sha256[:12]}: refusing to load it",
                uri=ref.uri,
            )
        return data

    def put_frame(self, frame: pd.DataFrame) -> DatasetRef:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        artifact = self.put_bytes(buffer.getvalue(), ".parquet")
        return DatasetRef(artifact=artifact, rows=len(frame), columns=[str(c) for c in frame.columns])

    def get_frame(self, ref: DatasetRef, columns: list[str] | None = None,
                  categorical: Sequence[str] = ()) -> pd.DataFrame:
        """The frame (only ``columns``, when given: the whole object's hash is still checked).

        ``categorical`` text columns arrive as pandas categoricals, straight from the file's
        dictionary pages: a lab extract's test, unit and file date at a million patients are 330 MB
        as strings and 20 MB as codes."""
        # Imported on first use: a worker whose steps pass only models never loads pandas.
        import pandas as pd

        return pd.read_parquet(io.BytesIO(self.get_bytes(ref.artifact)), columns=columns,
                               **({"read_dictionary": list(categorical)} if categorical else {}))

    def find(self, digest: str, suffix: str = "") -> ArtifactRef | None:
        """The reference of an object known only by its hash (the registry keeps a model's training
        data by its sha256 alone), or None when the store does not hold it."""
        path = self._path(digest, suffix)
        if not path.exists():
            return None
        return ArtifactRef(uri=path.as_uri(), sha256=digest, size_bytes=path.stat().st_size)

    def _path(self, digest: str, suffix: str) -> Path:
        return self.root / "sha256" / digest[:2] / f"{digest}{suffix}"


def _uri_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ArtifactIntegrityError(f"unsupported artifact URI scheme {parsed.scheme!r}", uri=uri)
    return Path(url2pathname(parsed.path))
