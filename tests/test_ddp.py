"""DDP: 2 gloo processes on CPU give the averaged gradients and loss of 1 process on the same global batch."""

import os
import socket
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
pytestmark = pytest.mark.torch

GLOBAL_BATCH = 4


def global_batch() -> list:
    """4 items of equal length (padding differs between shards otherwise), 3-6 labels each."""
    g = torch.Generator().manual_seed(7)
    return [
        (torch.randn(48, 2, 16, 33, generator=g), torch.randint(0, 98, (int(torch.randint(3, 7, (1,), generator=g)),), generator=g))
        for _ in range(GLOBAL_BATCH)
    ]


def one_step(rank: int, world_size: int) -> dict:
    """One Trainer.train_step on this rank's shard of the global batch; grads and loss out."""
    from test_train import toy_cfg, toy_collate

    from emgrt.train.checkpoint import seed_everything
    from emgrt.train.dist import wrap_ddp
    from emgrt.train.model import StreamingCTCModel
    from emgrt.train.recipe import OptimConfig, Recipe, TrainConfig
    from emgrt.train.trainer import Trainer

    torch.set_num_threads(1)
    seed_everything(0)
    recipe = Recipe(
        model=toy_cfg(dropout=0.0),
        optim=OptimConfig(lr=1e-3, grad_clip=0.0),
        train=TrainConfig(max_steps=1, skip_context_outputs=False),
    )
    model = wrap_ddp(StreamingCTCModel(recipe.model), "cpu")
    per_rank = GLOBAL_BATCH // world_size
    shard = toy_collate(global_batch()[rank * per_rank : (rank + 1) * per_rank])
    trainer = Trainer(recipe, model, [shard], None, None, rank=rank, world_size=world_size,
                      progress=False, log=lambda s: None)
    out = trainer.train_step(shard)
    return {
        "loss": out["loss"],
        "grad_norm": out["grad_norm"],
        "grads": {n: p.grad.clone() for n, p in trainer.module.named_parameters()},
        "params": {n: p.detach().clone() for n, p in trainer.module.named_parameters()},
        "running": {n: b.clone() for n, b in trainer.module.named_buffers()},
    }


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    from emgrt.train.dist import cleanup, init_distributed

    info = init_distributed()
    assert info.rank == rank and info.world_size == world_size and dist.get_backend() == "gloo"
    try:
        torch.save(one_step(rank, world_size), Path(out_dir) / f"rank{rank}.pt")
    finally:
        cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_equal_one_process_on_the_global_batch(tmp_path):
    single = one_step(0, 1)
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for got in ranks:
        assert abs(got["loss"] - single["loss"]) <= 1e-5, (got["loss"], single["loss"])
        assert abs(got["grad_norm"] - single["grad_norm"]) <= 1e-5 * max(1.0, single["grad_norm"])
        assert set(got["grads"]) == set(single["grads"])
        for name, g in single["grads"].items():
            assert torch.allclose(got["grads"][name], g, atol=1e-5, rtol=0), name
        for name, b in single["running"].items():  # batch-norm statistics of the global batch
            assert torch.allclose(got["running"][name], b, atol=1e-5, rtol=0), name
    # every rank made the same update (Adam's sign-like first step makes the comparison with
    # the single process ill-conditioned for near-zero gradients; the gradients are compared above)
    for name, p in ranks[0]["params"].items():
        assert torch.equal(ranks[1]["params"][name], p), name
