"""``knowit archs --check``: does a module honour the architecture plugin contract?

Each check that fails adds one line saying what is missing; an empty list means the plugin
works: ``ArchArgs`` is a dataclass that builds with its defaults, ``TASKS`` names known tasks,
``Model(input_dim, output_dim, task_name, args)`` builds, and a forward on a tiny batch gives
``(batch, *output_dim)`` for regression and ``(batch, n_classes)`` for classification.
"""
from __future__ import annotations

import dataclasses
import inspect
from types import ModuleType

import torch

from knowit.config.schema import TASKS

# A tiny sample per input layout (``INPUT_LAYOUT`` of the plugin; ``any``: windows of a series).
EXAMPLE_INPUT = {"series": [8, 3], "frames": [2, 1, 8, 8], "field": [3, 6, 2], "any": [8, 3]}
EXAMPLE_OUTPUT = {"regression": [2, 3], "classification": [4]}
BATCH = 4
MODEL_PARAMETERS = ("input_dim", "output_dim", "task_name", "args")


def check_plugin(module: ModuleType) -> list[str]:
    """What ``module`` lacks to be a knowit architecture, one line per problem."""
    problems: list[str] = []
    args_cls = getattr(module, "ArchArgs", None)
    args = None
    if args_cls is None:
        problems.append("ArchArgs: missing; define a dataclass of the architecture's hyperparameters")
    elif not (isinstance(args_cls, type) and dataclasses.is_dataclass(args_cls)):
        problems.append("ArchArgs: not a dataclass; decorate it with @dataclass")
    else:
        from knowit.config.validate import build
        from knowit.errors import KnowItConfigError

        try:
            args = build(args_cls, {}, "arch")
        except (KnowItConfigError, TypeError) as err:
            problems.append(f"ArchArgs: cannot be built from its defaults: {err}")
    tasks = getattr(module, "TASKS", TASKS)
    if not isinstance(tasks, (tuple, list)) or not tasks or any(t not in TASKS for t in tasks):
        problems.append(f"TASKS: {tasks!r} must list one or more of: {', '.join(TASKS)}")
        tasks = ()
    model_cls = getattr(module, "Model", None)
    if model_cls is None:
        problems.append("Model: missing; define an nn.Module class Model(input_dim, output_dim, task_name, args)")
        return problems
    if not (isinstance(model_cls, type) and issubclass(model_cls, torch.nn.Module)):
        problems.append("Model: not a torch.nn.Module subclass")
        return problems
    params = [p for p in inspect.signature(model_cls.__init__).parameters if p != "self"]
    if params[:4] != list(MODEL_PARAMETERS):
        problems.append(f"Model: takes ({', '.join(params)}); it must take ({', '.join(MODEL_PARAMETERS)})")
        return problems
    layout = getattr(module, "INPUT_LAYOUT", "any")
    input_dim = EXAMPLE_INPUT.get(layout)
    if input_dim is None:
        problems.append(f"INPUT_LAYOUT: {layout!r} is not one of: {', '.join(EXAMPLE_INPUT)}")
        return problems
    if args is None:
        return problems
    problems += _declaration_problems(module, args)
    if problems:
        return problems
    for task in tasks:
        problems += _forward_problems(model_cls, input_dim, task, args)
    return problems


def _declaration_problems(module: ModuleType, args: object) -> list[str]:
    """``STATEFUL_ARG`` and ``input_layout(args)`` as ``knowit.registry`` reads them."""
    from knowit import registry
    from knowit.errors import KnowItConfigError

    try:
        registry.check_declarations(module, module.__name__)
        registry.stateful_key(module, args)
        registry.input_layout(module, args)
    except KnowItConfigError as err:
        return [str(err).removeprefix("arch.name: ")]
    return []


def _forward_problems(model_cls: type, input_dim: list[int], task: str, args: object) -> list[str]:
    output_dim = EXAMPLE_OUTPUT[task]
    expected = (BATCH, *output_dim)
    try:
        torch.manual_seed(0)
        model = model_cls(list(input_dim), list(output_dim), task, args)
    except Exception as err:  # noqa: BLE001 - the user's constructor may raise anything
        return [f"Model({input_dim}, {output_dim}, {task!r}, ArchArgs()): raises {type(err).__name__}: {_first(err)}"]
    try:
        out = model(torch.randn(BATCH, *input_dim))
    except Exception as err:  # noqa: BLE001
        return [f"{task}: forward on a batch of shape {(BATCH, *input_dim)} raises {type(err).__name__}: {_first(err)}"]
    if not isinstance(out, torch.Tensor):
        return [f"{task}: forward returns {type(out).__name__}, not a tensor"]
    if tuple(out.shape) != expected:
        what = "(batch, *output_dim)" if task == "regression" else "logits (batch, n_classes)"
        return [f"{task}: forward returns shape {tuple(out.shape)}; expected {what} = {expected}"]
    return []


def _first(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""
