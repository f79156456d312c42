"""The torch-free streaming engine (see engine.py for the per-chunk pipeline).

ring.py         preallocated FIFO ring buffer
frontend.py     live filters + log-spectrogram frames (emgrt.dsp)
step_runner.py  ONNX Runtime step with the state fed back (IOBinding ping-pong)
engine.py       Engine: samples + stamps in, JSON-ready events out, counters
live.py         run_live: an LSL band inlet feeding an engine, reconnects
latency.py      replay sessions through the engine on a simulated clock; latency report
"""

from emgrt.stream.engine import Engine

__all__ = ["Engine"]
