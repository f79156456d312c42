"""The live front end: raw band samples -> [unit to microvolts ->] IIR filters -> log-spectrogram frames [-> adaptation].

The same pieces as training (:class:`emgrt.dsp.filters.SosFilter` with carried
``zi`` seeded from the first sample, :class:`emgrt.dsp.features.StreamingLogSpectrogram`),
so pushing a recording in any chunking gives the frames of
``LogSpectrogram(filter_offline(sos, x))`` on the whole recording.  A bundle with adaptation
statistics (manifest ``adapt``) may add the label-free :class:`emgrt.dsp.adapt.RunningNorm`,
a per-frame recursion, so that holds with it too.
"""

from __future__ import annotations

import numpy as np

from emgrt.dsp.features import FrontEndConfig, StreamingLogSpectrogram
from emgrt.dsp.filters import FilterSpec, SosFilter, design_sos


class LiveFrontEnd:
    """(n, bands * channels_per_band) float32 samples -> (k, bands, channels_per_band, n_freq) frames."""

    def __init__(
        self,
        filters: list[FilterSpec],
        cfg: FrontEndConfig,
        sample_rate: float,
        bands: int = 2,
        channels_per_band: int = 16,
        adapt=None,
        to_microvolts: float = 1.0,
    ) -> None:
        self.shape = (bands, channels_per_band)
        self.scale = np.float32(to_microvolts)  # the band's unit -> the pipeline's microvolts
        sos = design_sos(filters, sample_rate)
        self.filter = SosFilter(sos) if len(sos) else None
        self.spectrogram = StreamingLogSpectrogram(cfg)
        self.cfg = self.spectrogram.cfg
        self.adapt = adapt  # emgrt.dsp.adapt.RunningNorm or None

    @classmethod
    def from_manifest(cls, manifest, adapt=None) -> "LiveFrontEnd":
        """The front end a typed :class:`emgrt.manifest.Manifest` (``bundle.spec``) describes: the
        one place the runtime builds it."""
        sig, fe = manifest.signal, manifest.frontend
        return cls(
            [FilterSpec.from_dict(f) for f in sig.filters],
            fe.config(),
            float(sig.sample_rate),
            len(sig.bands),
            sig.channels_per_band,
            adapt,
            sig.to_microvolts,
        )

    @classmethod
    def from_bundle(cls, bundle, adapt: bool | None = None) -> "LiveFrontEnd":
        """The bundle's front end; ``adapt`` True/False overrides the manifest's ``adapt.enabled``."""
        from emgrt.stream.adaptation import adaptation

        return cls.from_manifest(bundle.spec, adaptation(bundle, adapt))

    def reset(self) -> None:
        if self.filter is not None:
            self.filter.reset()
        self.spectrogram.reset()
        if self.adapt is not None:
            self.adapt.reset()

    def push(self, samples: np.ndarray) -> np.ndarray:
        x = samples.reshape(len(samples), *self.shape)
        if self.scale != 1:
            x = x * self.scale
        if self.filter is not None:
            x = self.filter(x)
        frames = self.spectrogram.push(x)
        return frames if self.adapt is None else self.adapt(frames)

    def samples_for_frames(self, n_frames: int) -> int:
        """Samples since the stream start that complete the first ``n_frames`` frames."""
        return 0 if n_frames <= 0 else (n_frames - 1) * self.cfg.hop + self.cfg.n_fft

