"""Reusable layers: ``from knowit.layers import ConvLSTM1D``."""
from knowit.layers.convlstm1d import ConvLSTM1D

__all__ = ["ConvLSTM1D"]
