import numpy as np
import pytest

from conftest import make_session_arrays
from emgrt.errors import DataFileError
from emgrt.io.dataset import DatasetDir, SessionInfo, read_metadata_csv, write_metadata_csv, write_splits
from emgrt.io.session import write_session


def test_metadata_round_trip(tmp_path):
    rows = [SessionInfo("u1", "s1", 1.5, 120, 4, ""), SessionInfo("u2", "s2", 2.0, 99, 3, "noisy")]
    path = write_metadata_csv(tmp_path, rows)
    header = path.read_text().splitlines()[0]
    assert header == "user,session,duration_mins,num_keystrokes,num_prompts,quality_check_tags"
    assert read_metadata_csv(tmp_path) == rows


def test_metadata_errors(tmp_path):
    with pytest.raises(DataFileError, match="no metadata.csv"):
        read_metadata_csv(tmp_path)
    (tmp_path / "metadata.csv").write_text("who,what\n1,2\n")
    with pytest.raises(DataFileError, match="needs columns user and session"):
        read_metadata_csv(tmp_path)


def _splits(train, val, test):
    return {"train_users": ["a"], "test_users": ["b"], "generic": {"train": train, "val": val, "test": test},
            "personal": {"b": {"train": [], "val": [], "test": test}}}


def test_dataset_dir_resolves_splits(tmp_path):
    for name in ("s1", "s2", "s3"):
        write_session(tmp_path / f"{name}.hdf5", **{**make_session_arrays(2000), "session_name": name})
    write_splits(tmp_path, _splits(["s1"], ["s2"], ["s3"]))
    ds = DatasetDir(tmp_path)
    assert ds.sessions("train") == [tmp_path / "s1.hdf5"]
    assert ds.sessions("test", user="b") == [tmp_path / "s3.hdf5"]
    assert len(ds.all_sessions()) == 3
    with pytest.raises(DataFileError, match="no personal split for user 'zz' \\(users with one: b\\)"):
        ds.sessions("train", user="zz")
    with pytest.raises(DataFileError, match="unknown split 'dev'"):
        ds.sessions("dev")


def test_missing_session_files_and_bad_splits(tmp_path):
    write_splits(tmp_path, _splits(["gone"], [], []))
    with pytest.raises(DataFileError, match="1 session files of split 'train' missing, e.g. gone.hdf5"):
        DatasetDir(tmp_path).sessions("train")
    (tmp_path / "splits.json").write_text("{oops")
    with pytest.raises(DataFileError, match="not valid JSON"):
        DatasetDir(tmp_path)
    (tmp_path / "splits.json").write_text('{"generic": {"train": []}, "personal": {}}')
    with pytest.raises(DataFileError, match="generic.val must be a list"):
        DatasetDir(tmp_path)
    with pytest.raises(DataFileError, match="not a directory"):
        DatasetDir(tmp_path / "nope")
