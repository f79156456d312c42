"""The torch-free streaming engine (see recognizer.py for the per-chunk pipeline).

ring.py         preallocated FIFO ring buffer
clock.py        the band's sample clock: jitter followed, real gaps found
frontend.py     live filters + log-spectrogram frames (emgrt.dsp), built from the typed manifest
step_runner.py  ONNX Runtime step with the state fed back (IOBinding ping-pong), and the batched step
recognizer.py   Recognizer (what streams share) and Stream (one band): accept(), decode(streams)
engine.py       Engine: one Recognizer + one Stream, samples in, JSON-ready events out; EngineGroup
live.py         run_live: an LSL band inlet feeding an engine, reconnects
latency.py      replay sessions through the engine on a simulated clock; latency report
"""

from emgrt.stream.engine import Engine, EngineGroup
from emgrt.stream.recognizer import Recognizer, Stream, StreamResult

__all__ = ["Engine", "EngineGroup", "Recognizer", "Stream", "StreamResult"]
