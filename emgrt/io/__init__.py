"""Reading and writing emg2qwerty-format session files and dataset folders."""
