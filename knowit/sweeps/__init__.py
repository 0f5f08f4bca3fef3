"""knowit.sweeps"""
