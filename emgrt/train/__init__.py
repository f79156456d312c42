"""Training (the only subpackage that imports torch; only training commands import it).

model.py       StreamingCTCModel: input block, causal attention with bounded left context, CTC head
tds.py         the TDS-ConvNet baseline of emg2qwerty (offline only)
recipe.py      TOML recipes -> frozen [model] / [optim] / [train] configs ([data] -> emgrt.data)
schedule.py    AdamW learning rate: linear warm-up over 5% of updates, then cosine
checkpoint.py  atomic best/last checkpoints
trainer.py     the training loop behind `emgrt train`
distill.py     KD + CTC loss and the DistillTrainer behind `emgrt distill`
dist.py        DDP under torchrun: process group, DDP wrap, cross-rank helpers
loader.py      build_loader: the torch DataLoader over emgrt.data's windowed dataset
"""
