"""Signal processing shared by training and streaming: IIR filters and the log-spectrogram front end."""
