"""Reading and writing emg2qwerty-format session files and dataset folders.

``emgrt.io.gni`` reads and writes generic-neuromotor-interface session files (one band;
discrete gestures, handwriting, wrist) and their corpus split CSVs; its label tables need the
``neuromotor`` extra (pandas, PyTables).
"""
