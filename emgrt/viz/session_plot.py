"""`emgrt data plot`: raw and filtered EMG of one session stretch, with keystroke markers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emgrt.charset import glyph
from emgrt.constants import BANDS, SAMPLE_RATE_HZ
from emgrt.dsp.features import LogSpectrogram
from emgrt.dsp.filters import FilterSpec, design_sos, filter_offline
from emgrt.errors import EmgrtError
from emgrt.io.session import SessionFile


def plot_session(path: Path, out: Path, *, start_s: float | None, seconds: float, mains_hz: float = 60.0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = SessionFile(path)
    t0 = s.time[0]
    if start_s is None:
        start_s = max(0.0, float(s.key_times[0] - t0) - 0.5) if len(s.key_times) else 0.0
    if seconds <= 0 or start_s < 0 or t0 + start_s >= s.time[-1]:
        raise EmgrtError(f"--start {start_s} / --seconds {seconds} outside the session (0..{s.time[-1] - t0:.1f} s)")
    lo, hi = np.searchsorted(s.time, [t0 + start_s, t0 + start_s + seconds])
    emg = s.emg(int(lo), int(hi))  # (n, 2, 16)
    t = s.time[lo:hi] - t0
    sos = design_sos([FilterSpec("bandpass", low=20, high=450), FilterSpec("notch", freq=mains_hz)])
    # Filter with a second of history so the stretch starts without a transient.
    pre = max(0, int(lo) - SAMPLE_RATE_HZ)
    filtered = filter_offline(sos, s.emg(pre, int(hi)))[int(lo) - pre :]
    spec = LogSpectrogram()(filtered)  # (F, 2, 16, 33)

    fig, axes = plt.subplots(3, 2, figsize=(16, 11), sharex=True, gridspec_kw={"height_ratios": [3, 3, 1.4]})
    shown = (s.key_times >= s.time[lo]) & (s.key_times <= s.time[hi - 1])
    presses = list(zip(s.key_times[shown] - t0, s.charset.labels_to_str(s.key_labels[shown])))
    for b, band in enumerate(BANDS):
        for row, (data, title) in enumerate([(emg, "raw"), (filtered, "band-pass 20-450 Hz + notch")]):
            ax = axes[row, b]
            x = data[:, b, :]
            scale = 4 * (np.percentile(np.abs(x), 99) or 1.0)
            for ch in range(x.shape[1]):
                ax.plot(t, x[:, ch] / scale + ch, lw=0.4, color="C0" if row == 0 else "C2")
            ax.set_title(f"{band} band, {title}")
            ax.set_ylabel("electrode")
            ax.set_yticks(range(0, 16, 3))
        ax = axes[2, b]
        power = spec[:, b].mean(axis=1).T  # (33, F): mean over electrodes
        ax.imshow(power, aspect="auto", origin="lower", extent=[t[0], t[-1], 0, SAMPLE_RATE_HZ / 2], cmap="magma")
        ax.set_ylabel("Hz")
        ax.set_xlabel("seconds from session start")
        ax.set_title(f"{band} band, log-spectrogram (mean over electrodes)")
        for row in range(3):
            for kt, c in presses:
                axes[row, b].axvline(kt, color="red", lw=0.6, alpha=0.6)
                if row == 0:
                    axes[row, b].text(kt, 16.2, glyph(c), color="red", fontsize=8, ha="center")
    fig.suptitle(f"{s.session_name}  (user {s.user})")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
