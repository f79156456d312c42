"""A one-band (generic-neuromotor-interface) recording streamed through an engine, and its offline twin.

What ``emgrt latency`` does with a gestures or handwriting bundle: :func:`stream_recording` feeds
the whole recording in band-sized chunks as fast as the engine goes (a fused model's IMU beside
it, :class:`~emgrt.stream.imu_track.ImuFeed`), and :func:`offline_outputs` decodes the full-window
graph over the same recording with the same decoder, so a task's scorer can say whether the
streamed events are the offline ones.
"""

from __future__ import annotations

from pathlib import Path

from emgrt.stream.latency import offline_log_probs

READ_BLOCK = 20_000  # samples read from the file at a time (10 s)
# The full-window graph attends over the whole recording at once (memory grows with its square):
# longer recordings are checked offline on their first --max-seconds only.
OFFLINE_MAX_S = 180.0


def recording_paths(path: str | Path, split: str | None = None, task: str = "discrete_gestures") -> list[Path]:
    """One GNI file, every one of a folder, or (``split``) the files of the folder's ``task``
    corpus split (``TASK_corpus.csv``)."""
    from emgrt.errors import EmgrtError

    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise EmgrtError(f"{path}: no such recording or folder")
    if split is not None:
        from emgrt.io.gni import read_corpus

        corpus = path / f"{task}_corpus.csv"
        if not corpus.exists():
            kind = "gestures" if task == "discrete_gestures" else task
            raise EmgrtError(f"{corpus}: no such file (is {path} an `emgrt synth --task {kind}` folder?)")
        return sorted({p.path(path) for p in read_corpus(corpus) if p.split == split})
    paths = sorted(path.glob("*.hdf5"))
    if not paths:
        raise EmgrtError(f"{path}: no *.hdf5 recordings in this folder")
    return paths


def prefix(rec, max_seconds: float | None, offline: bool) -> int:
    """The samples of ``rec`` to stream: all, or its first ``max_seconds``; a ConfigError when
    the offline check is asked of a recording too long for the whole-window graph."""
    from emgrt.errors import ConfigError

    n = len(rec) if max_seconds is None else min(len(rec), max(1, int(max_seconds * 2000)))
    seconds = float(rec.time[n - 1] - rec.time[0])
    if offline and seconds > OFFLINE_MAX_S:
        raise ConfigError(f"{rec.path.name}: {seconds:.0f} s is too long for the offline check (the whole-window graph "
                          f"over it at once; at most {OFFLINE_MAX_S:.0f} s): pass --max-seconds 120, or --no-offline")
    return n


def stream_recording(engine, rec, chunk: int = 32, n: int | None = None) -> tuple[list[dict], int, list[float]]:
    """Feed the recording ``rec`` (:class:`emgrt.io.recording.Recording`), or its first ``n``
    samples, through ``engine`` in chunks of ``chunk`` samples, then finish; its events, the
    model output frames it decoded and the compute per step (ms)."""
    from emgrt.stream.imu_track import ImuFeed

    events: list[dict] = []
    engine.hop_log = hops = []
    outputs_before = engine.counters["outputs"]
    imu = ImuFeed(engine, rec)  # a fused model's IMU beside the EMG (nothing for EMG-only)
    n = len(rec) if n is None else n
    for start in range(0, n, READ_BLOCK):
        x, ts = rec.emg(start, min(n, start + READ_BLOCK)), rec.time[start : min(n, start + READ_BLOCK)]
        for j in range(0, len(x), chunk):
            imu.before(float(ts[min(j + chunk, len(ts)) - 1]))
            events += engine.process(x[j : j + chunk], ts[j : j + chunk])
    events += engine.finish()
    engine.hop_log = None
    return events, engine.counters["outputs"] - outputs_before, hops


def offline_outputs(bundle, rec, n_outputs: int, decoder: str, n: int | None = None) -> list:
    """The decoder events of the full-window graph over the whole recording (or its first ``n``
    samples), on its first ``n_outputs`` output frames (the stream decodes whole steps: its
    outputs are the first n of the whole window's), with the bundle's options for ``decoder``."""
    from emgrt.decode import make_decoder
    from emgrt.stream.decoders import decoder_options

    dec = make_decoder(decoder, bundle.labels, bundle.blank, **decoder_options(bundle, decoder, {}))
    lp = offline_log_probs(bundle, rec.emg(0, n), recording=rec)[:n_outputs]
    return [*dec.push(lp, 0), *dec.flush()]
