"""Length bucketing: less padding than random batches, every index once per epoch across ranks."""

import numpy as np
import pytest
from test_data_fixtures import make_dataset

from emgrt.data import DataConfig, LengthBucketSampler, WindowedDataset


def _lengths(n=1000, seed=0):
    return np.random.default_rng(seed).integers(50, 2000, n)


def test_bucketing_reduces_padding_waste():
    lengths = _lengths()
    kw = dict(batch_size=16, pool_batches=20)
    random = np.mean([LengthBucketSampler(lengths, bucket=False, **kw).padding_waste(e) for e in range(5)])
    bucketed = np.mean([LengthBucketSampler(lengths, bucket=True, **kw).padding_waste(e) for e in range(5)])
    assert random > 0.3 and bucketed < 0.1
    evalb = LengthBucketSampler(lengths, shuffle=False, bucket=True, **kw).padding_waste()
    assert evalb < bucketed


@pytest.mark.parametrize("n", [1000, 997, 33, 17, 3, 1])
@pytest.mark.parametrize("bucket", [True, False])
def test_every_index_once_per_epoch_across_two_ranks(n, bucket):
    lengths = _lengths(n)
    ranks = [
        LengthBucketSampler(lengths, 16, bucket=bucket, pool_batches=4, rank=r, world_size=2, seed=5) for r in (0, 1)
    ]
    for epoch in (0, 1):
        for s in ranks:
            s.set_epoch(epoch)
        per_rank = [list(s) for s in ranks]
        assert len(per_rank[0]) == len(per_rank[1]) == len(ranks[0]) == len(ranks[1])  # DDP needs equal counts
        assert all(1 <= len(b) <= 16 for r in per_rank for b in r)
        seen = sorted(i for r in per_rank for b in r for i in b)
        if n >= 2:
            assert seen == list(range(n))
        else:  # fewer items than ranks: the only way to give both a batch is to repeat
            assert set(seen) == {0}


def test_reshuffles_per_epoch_and_is_deterministic():
    lengths = _lengths(200)
    a = LengthBucketSampler(lengths, 8, seed=1)
    b = LengthBucketSampler(lengths, 8, seed=1)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(LengthBucketSampler(lengths, 8, seed=2)) != first


def test_eval_order_is_fixed_and_sorted():
    lengths = _lengths(50)
    s = LengthBucketSampler(lengths, 8, shuffle=False, bucket=True)
    order = [i for b in s for i in b]
    assert sorted(order) == list(range(50))
    assert np.all(np.diff(lengths[order]) >= 0)
    s.set_epoch(3)
    assert [i for b in s for i in b] == order
    plain = LengthBucketSampler(lengths, 8, shuffle=False, bucket=False)
    assert [i for b in plain for i in b] == list(range(50))


def test_drop_last_gives_full_batches_equal_per_rank():
    lengths = _lengths(101)
    for r in (0, 1):
        s = LengthBucketSampler(lengths, 10, drop_last=True, rank=r, world_size=2)
        assert len(s) == 5 and all(len(b) == 10 for b in s)


def test_subset_indices():
    lengths = _lengths(100)
    s = LengthBucketSampler(lengths, 7, indices=[3, 9, 27, 81, 50])
    assert sorted(i for b in s for i in b) == [3, 9, 27, 50, 81]
    with pytest.raises(ValueError):
        LengthBucketSampler(lengths, 7, indices=[100])
    with pytest.raises(ValueError):
        LengthBucketSampler(lengths, 7, rank=2, world_size=2)


def test_whole_session_eval_items_bucket_better(tmp_path):
    root = make_dataset(tmp_path, (9_000, 60_000, 21_000, 40_000, 9_500, 61_000, 20_000, 41_000))
    cfg = DataConfig.from_dict({"window_length": 0, "padding": [0, 0]})
    ds = WindowedDataset(sorted(root.glob("*.hdf5")), cfg, train=False)
    random = np.mean([LengthBucketSampler(ds.lengths, 2, bucket=False, seed=s).padding_waste() for s in range(10)])
    bucketed = LengthBucketSampler(ds.lengths, 2, shuffle=False, bucket=True).padding_waste()
    assert bucketed < 0.05 < random
