from __future__ import annotations

import pandas as pd
import pytest

from mlwright.errors import ArtifactIntegrityError
from mlwright.store.artifacts import ArtifactStore, _uri_path


def test_same_bytes_are_stored_once_under_their_hash(tmp_path):
    store = ArtifactStore(tmp_path)
    first, second = store.put_bytes(b"model", ".pkl"), store.put_bytes(b"model", ".pkl")
    assert first == second and first.size_bytes == 5
    assert len(list(tmp_path.rglob("*.pkl"))) == 1
    assert store.get_bytes(first) == b"model"


def test_tampered_or_missing_artifact_is_refused(tmp_path):
    store = ArtifactStore(tmp_path)
    ref = store.put_bytes(b"model")
    _uri_path(ref.uri).write_bytes(b"evil")
    with pytest.raises(ArtifactIntegrityError, match="refusing to load"):
        store.get_bytes(ref)
    _uri_path(ref.uri).unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        store.get_bytes(ref)


def test_frames_round_trip_with_shape_recorded(tmp_path):
    store = ArtifactStore(tmp_path)
    frame = pd.DataFrame({"a": [1, 2, None], "b": ["x", "y", "z"]})
    ref = store.put_frame(frame)
    assert (ref.rows, ref.columns) == (3, ["a", "b"])
    pd.testing.assert_frame_equal(store.get_frame(ref), frame)
