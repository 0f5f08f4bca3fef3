"""Reusable layers, composed by the architectures in ``default_archs`` (``from knowit.layers import ConvLSTM1D``).

- ``activations``: the one activation lookup (Keras names and ``torch.nn`` classes);
- ``internal_state``: ``InternalState``, initial and carried states of an ``nn.LSTM`` stack;
- ``keras_lstm``: ``KerasLSTM``, one LSTM layer built as Keras builds it;
- ``convlstm1d`` (+ ``recurrence``, its hand-written backward): Keras's ``ConvLSTM1D``;
- ``keras_weights``: Keras's initialisers and L1/L2 regularisers;
- ``heads``: the window-shape checks and ``OutputHead`` every window architecture ends with;
- ``temporal_conv``: causal or centred dilated ``TemporalConvBlock`` and receptive-field arithmetic (CNN, TCN);
- ``positional``: sinusoidal and learned position encodings (transformer);
- ``gated``, ``attention``: GRNs, variable selection, interpretable multi-head attention (TFT).
Layers import nothing from the framework above them (training, data, orchestrator, CLI).
"""
from knowit.layers.activations import Activation, activation_module, get_activation
from knowit.layers.convlstm1d import ConvLSTM1D
from knowit.layers.internal_state import InternalState
from knowit.layers.keras_lstm import KerasLSTM

__all__ = ["Activation", "ConvLSTM1D", "InternalState", "KerasLSTM", "activation_module", "get_activation"]
