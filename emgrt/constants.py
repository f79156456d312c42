"""Defaults shared by every stage (units in the names or comments)."""

SAMPLE_RATE_HZ = 2000  # Hz, both bands
CHANNELS_PER_BAND = 16  # electrodes around each wrist
BANDS = ("left", "right")
N_CHANNELS = CHANNELS_PER_BAND * len(BANDS)

# emg2qwerty HDF5 layout
HDF5_GROUP = "emg2qwerty"
TIMESERIES = "timeseries"
FIELD_TIME = "time"
FIELD_LEFT = "emg_left"
FIELD_RIGHT = "emg_right"
BAND_FIELDS = (FIELD_LEFT, FIELD_RIGHT)
CONDITION_KEYBOARD = "on_keyboard"

# Windows (samples at 2 kHz): 4 s plus 900 ms past and 100 ms future context.
WINDOW_LENGTH = 8000
PAD_PAST = 1800
PAD_FUTURE = 200

# Log-spectrogram front end (emg2qwerty's parameters).
N_FFT = 64  # samples per frame (32 ms)
HOP_LENGTH = 16  # samples per frame step -> 125 Hz frames
N_FREQ = N_FFT // 2 + 1  # 33 bins
LOG_EPS = 1e-6  # log10(power + LOG_EPS)
