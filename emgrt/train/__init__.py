"""Training (the only subpackage that imports torch).

loader.py   build_loader: the torch DataLoader over emgrt.data's windowed dataset
"""
