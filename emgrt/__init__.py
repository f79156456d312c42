"""emgrt: real-time streaming inference from surface-EMG wristbands to typed text.

Data flow: band (LSL) -> ring buffer -> IIR filters -> log-spectrogram features
-> model step -> CTC decoder -> character events.  The training code lives in
``emgrt.train`` and is the only place that imports torch.
"""

__version__ = "0.1.0"
