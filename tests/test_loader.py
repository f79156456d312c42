"""The torch DataLoader wrapper: workers give the same batches as the main process."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_data_fixtures import make_dataset  # noqa: E402

from emgrt.data import DataConfig, WindowedDataset, collate  # noqa: E402
from emgrt.train.loader import TorchCollate, build_loader, make_loader  # noqa: E402

pytestmark = pytest.mark.torch
LENGTHS = (21_000, 9_000, 33_000, 12_500, 17_000)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("loader"), LENGTHS)


def _cfg(workers):
    return DataConfig.from_dict(
        {"stride": 3000, "loader": {"batch_size": 4, "num_workers": workers, "prefetch_factor": 2}}
    )


def _epoch(loader, epoch):
    loader.set_epoch(epoch)
    return list(loader)


def test_two_workers_yield_the_same_batches_as_none(root):
    serial = build_loader(_cfg(0), root, "train", train=True, seed=3)
    parallel = build_loader(_cfg(2), root, "train", train=True, seed=3)
    assert parallel.num_workers == 2 and parallel.persistent_workers and parallel.prefetch_factor == 2
    assert parallel.pin_memory == torch.cuda.is_available()
    for epoch in (0, 1):
        a, b = _epoch(serial, epoch), _epoch(parallel, epoch)
        assert len(a) == len(b) == len(serial) > 3
        for x, y in zip(a, b):
            assert x.keys() == y.keys()
            for k in x:
                if isinstance(x[k], torch.Tensor):
                    assert x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]), k
                else:
                    assert x[k] == y[k], k
    assert [b["offsets"] for b in a] != [b["offsets"] for b in _epoch(serial, 0)]  # epochs differ


def test_workers_follow_set_epoch(root):
    """Persistent workers keep their own dataset copy: the epoch must travel with the indices."""
    loader = build_loader(_cfg(2), root, "train", train=True, seed=5)
    ds, sampler = loader.dataset, loader.batch_sampler.sampler
    for epoch in (0, 2):
        loader.set_epoch(epoch)
        got = list(loader)
        want = [collate([ds.get(i, epoch) for i in b]) for b in sampler.batches(epoch)]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g["offsets"] == w["offsets"]
            np.testing.assert_array_equal(g["features"].numpy(), w["features"])


def test_batch_tensors(root):
    batch = next(iter(build_loader(_cfg(0), root, "train", train=True)))
    assert batch["features"].dtype == torch.float32 and batch["features"].shape[2:] == (2, 16, 33)
    n, t = batch["features"].shape[:2]
    assert batch["feature_mask"].dtype == torch.bool and batch["feature_mask"].shape == (n, t)
    assert batch["targets"].dtype == torch.int64 and batch["target_lengths"].dtype == torch.int64
    assert torch.equal(batch["feature_mask"].sum(1), batch["feature_lengths"])
    assert torch.equal(batch["target_mask"].sum(1), batch["target_lengths"])
    assert isinstance(batch["sessions"], list) and len(batch["sessions"]) == n


def test_ranks_split_the_windows(root):
    seen, counts = [], []
    for rank in (0, 1):
        ld = build_loader(_cfg(0), root, "val", train=False, rank=rank, world_size=2)
        windows = [(s, o) for b in ld for s, o in zip(b["sessions"], b["offsets"])]
        seen += windows
        counts.append(len(ld))
    ds = WindowedDataset([root / "s0.hdf5", root / "s1.hdf5"], DataConfig.from_dict({"stride": 3000}), train=False)
    assert counts[0] == counts[1]
    assert sorted(seen) == sorted((f"s{s}", int(o)) for s, o in zip(ds.index.session, ds.index.offset))


def test_split_overrides_apply(root):
    cfg = DataConfig.from_dict({**_cfg(0).to_dict(), "test": {"window_length": 0, "padding": [0, 0]}})
    ld = build_loader(cfg, root, "test", train=False)
    items = [(s, o) for b in ld for s, o in zip(b["sessions"], b["offsets"])]
    assert sorted(items) == [("s2", 0), ("s3", 0), ("s4", 0)]  # whole sessions of the test split


def test_worker_collate_uses_shared_memory(root):
    ds = WindowedDataset([root / "s0.hdf5"], _cfg(2), train=False)
    loader = make_loader(ds, train=False)
    batch = next(iter(loader))
    assert batch["features"].is_shared()  # handed over by the worker without another copy
    assert not TorchCollate()([ds[0]])["features"].is_shared()  # in-process: plain memory


def test_run_from_reads_epochs_end_to_end_and_skips_without_loading(root):
    """The trainer's endless iterator: batch b of epoch e onwards, across epoch boundaries, equals
    the per-epoch iterators concatenated (workers prefetch over the boundary)."""
    import itertools

    per_epoch = build_loader(_cfg(0), root, "train", train=True, seed=7)
    n = len(per_epoch)
    want = _epoch(per_epoch, 1)[2:] + _epoch(per_epoch, 2) + _epoch(per_epoch, 3)[:1]
    endless = build_loader(_cfg(2), root, "train", train=True, seed=7)
    got = list(itertools.islice(iter(endless.run_from(1, 2)), n - 2 + n + 1))
    assert len(got) == len(want) == 2 * n - 1
    for g, w in zip(got, want):
        assert g["offsets"] == w["offsets"]
        assert torch.equal(g["features"], w["features"])
    serial = build_loader(_cfg(0), root, "train", train=True, seed=7)
    loaded: list[int] = []
    get = serial.dataset.get
    serial.dataset.get = lambda i, epoch: loaded.append(i) or get(i, epoch)
    next(iter(serial.run_from(0, n - 1)))
    assert loaded == per_epoch.batch_sampler.sampler.batches(0)[n - 1]  # the skipped ones never loaded
