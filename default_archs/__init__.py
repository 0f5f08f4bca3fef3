"""Architectures shipped with knowit, one module per architecture.

The plugin contract (a user's own module, named by dotted path, follows the same one):

``ArchArgs``
    A dataclass of the architecture's hyperparameters: primitives, lists, ``Optional`` and nested
    dataclasses only (they travel through YAML, JSON and checkpoint hyperparameters). Field
    ``metadata`` may carry ``ge``/``gt``/``le``/``lt`` bounds and ``choices``; the config validator
    enforces them and names the full key path (``arch.width``) on failure.
``TASKS``
    The tasks the architecture supports, e.g. ``("regression", "classification")``.
``Model(input_dim, output_dim, task_name, args)``
    An ``nn.Module``. ``input_dim`` is the shape of one input sample without the batch axis
    (``[in_len, n_in]`` for windows of a time series, ``[T, C, H, W]`` for image sequences,
    ``[T, rows, channels]`` for 1-D fields); ``output_dim`` is ``[out_len, n_out]`` (or the target
    shape) for regression and ``[n_classes]`` for classification. ``forward(x)`` returns
    ``(batch, *output_dim)`` for regression and logits ``(batch, n_classes)`` for classification.
    Dimensions always come from the data; users never type them.

The first line of the module's docstring is what ``knowit archs`` shows. A plugin is a module
named by a dotted path or a ``.py`` file named by its path (``arch.name=archs/my_arch.py``);
``python -m knowit archs --check archs/my_arch.py`` runs these checks and prints what is missing.

Optional: ``Model.arch_info()``, a dict of
JSON values recorded under ``arch_info`` in the run's ``summary.json`` (the CNN's and TCN's
depth and receptive field); ``Model.explain()``, weights the model can show about its last
forward (the TFT's variable-selection and attention weights), saved by ``interpret``.

Declarations the framework reads instead of guessing from argument names (checked by
``knowit.registry.resolve`` and ``knowit archs --check``):

``INPUT_LAYOUT`` (optional)
    The kind of sample the model reads: ``"series"`` (windows ``[in_len, n_in]``), ``"frames"``
    (``[T, C, H, W]``), ``"field"`` (``[T, rows, channels]``) or ``"any"`` (the default: any
    shape; plots and interpretation follow the data's rank). ``knowit archs --check`` feeds a
    sample of this kind; plots and interpretation lay attributions out by it.
``input_layout(args) -> str`` (optional)
    Refines ``INPUT_LAYOUT`` to an axis order when an argument picks it: ``"field_channels_first"``
    (``[T, channels, rows]``, ConvLSTM1D's ``data_format``) or ``"frames_channels_last"``
    (``[T, H, W, C]``, CNN-LSTM's ``channels_last``).
``STATEFUL_ARG``
    For stateful models: the dotted name of the bool ``ArchArgs`` field that turns carrying states
    between batches on (``"stateful"`` for ConvLSTM1D), or a tuple of such names, any of which
    does (the LSTM's ``("internal_state.tracking", "stateful")``). When it is true, training requires ``data.batch_sampling: contiguous``, and the
    model must offer ``reset_states(mask: BoolTensor | None = None)``: the training module calls
    ``reset_states()`` at the start of every epoch/evaluation and ``reset_states(batch["reset"])``
    before each forward; interpretation replays a stream's context through
    ``get_states(batch_size)`` / ``set_states(states)``.
"""
