"""`resdeep export`'s formats: the weights, config and preprocessing for resdeep (.pt), and a self-contained network
with its preprocessing inside for anything that runs TorchScript or ONNX.

The self-contained network takes uint8 images as image files hold them, (N, H, W, C) at its input size, and
returns class probabilities (N, classes): the same numbers `resdeep eval` and `LoadedRun.predict` compute."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from resdeep.atomic_files import atomic_write
from resdeep.data.preprocessing import Preprocessing, normalize
from resdeep.errors import UserError
from resdeep.version import __version__


class WithPreprocessing(nn.Module):
    """A network with its test-time preprocessing in front and a softmax behind: uint8 (N, H, W, C) in, probabilities out."""

    def __init__(self, model: nn.Module, preprocessing: Preprocessing):
        super().__init__()
        self.model = model
        self.register_buffer("mean", preprocessing.mean.detach().clone().float())
        self.register_buffer("std", preprocessing.std.detach().clone().float())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(normalize(images.permute(0, 3, 1, 2), self.mean, self.std)), dim=1)


def example_input(preprocessing: Preprocessing) -> torch.Tensor:
    """Two images of the network's size, as an export traces them."""
    return torch.zeros(2, preprocessing.size, preprocessing.size, preprocessing.channels, dtype=torch.uint8)


def export_run(run, out: Path, format: str = "pt") -> Path:
    """Write `run` (a LoadedRun) to `out` as pt, torchscript or onnx; returns out."""
    model = run.model.cpu().eval()
    preprocessing = run.preprocessing
    if format == "pt":
        state = {
            "model": {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
            "config": run.saved_config(), "preprocessing": preprocessing.as_dict(), "model_id": run.name,
            "iteration": run.iteration, "source": str(run.source), "resdeep_version": __version__,
        }
        atomic_write(out, lambda stream: torch.save(state, stream), mode="wb")
        return out
    wrapped = WithPreprocessing(model, preprocessing).eval()
    example = example_input(preprocessing)
    with warnings.catch_warnings():  # torch marks TorchScript and its ONNX exporter deprecated; both still work, and are what runs anywhere
        warnings.simplefilter("ignore", (FutureWarning, DeprecationWarning))
        return _export_self_contained(wrapped, example, out, format)


def _export_self_contained(wrapped: WithPreprocessing, example: torch.Tensor, out: Path, format: str) -> Path:
    if format == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(wrapped, example)
        atomic_write(out, lambda stream: torch.jit.save(traced, stream), mode="wb")
        return out
    if format == "onnx":
        try:
            import onnx  # noqa: F401 - torch's exporter needs it; imported here, as only this format does
        except ImportError:
            raise UserError("export --format onnx needs the onnx package: pip install 'resdeep[onnx]'") from None
        graph = io.BytesIO()
        with torch.no_grad():  # the TorchScript-based exporter: it needs onnx alone (the dynamo one needs onnxscript too)
            torch.onnx.export(wrapped, (example,), graph, input_names=["images"], output_names=["probabilities"],
                              dynamic_axes={"images": {0: "batch"}, "probabilities": {0: "batch"}}, dynamo=False)
        atomic_write(out, lambda stream: stream.write(graph.getvalue()), mode="wb")
        return out
    raise UserError(f"export --format {format} is not a format; choose one of: pt, torchscript, onnx")
