"""Run any YOLOv8-layout ONNX detector through ONNX Runtime, in batches, on numpy images."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tilewise.detections import Detections
from tilewise.errors import TilewiseError
from tilewise.images import ImageLike, load_image
from tilewise.models.letterbox import LetterboxInfo, letterbox_batch
from tilewise.models.metadata import ModelMetadata, parse_names
from tilewise.models.yolo_layout import ModelLayoutError, check_output_shape, decode_yolov8
from tilewise.slicing.zoom import check_zoom

__all__ = ["OnnxDetector", "PreparedBatch"]

_DEFAULT_IMGSZ = 640
_DEFAULT_STRIDE = 32  # a YOLO detector's largest stride, when the metadata does not say
CPU_RUN_PIXELS = 2**18
"""Input pixels per graph run at most on ONNX Runtime's CPU provider (``max_batch_pixels``
"auto"): two 320 x 320 images, one of 576 x 576. Per pixel, a convolution network on CPU
costs more in larger runs (the activations of the whole run outgrow the caches): the bundled
graph at 576 x 576 cost 146 ns of CPU per input pixel in runs of 8 and 112 ns in runs of 1
(320 x 320: 117 vs 109); benchmarks/RESULTS.md, issue 15."""


@dataclass(frozen=True)
class PreparedBatch:
    """Network inputs for a list of images: one chunk per run of the graph.

    Attributes:
        inputs: per chunk, the NCHW input tensor (padded to a fixed graph batch).
        infos: per chunk, one ``LetterboxInfo`` per real image.
    """

    inputs: tuple[np.ndarray, ...]
    infos: tuple[tuple[LetterboxInfo, ...], ...]

    def __len__(self) -> int:
        return sum(len(i) for i in self.infos)


def _dim(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, np.integer)) and value > 0 else None


def _open_session(
    path: Path, providers: Sequence[str] | None, threads: int | None, spin: bool = False
) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - onnxruntime is a dependency of the inference path
        raise TilewiseError("OnnxDetector needs onnxruntime: pip install onnxruntime") from None
    if not path.is_file():
        raise TilewiseError(f"ONNX model not found: {path}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    # Idle intra-op threads sleep instead of spin-waiting for the next op: spinning holds
    # the cores that the Slicer's read-ahead thread (decoding the next batch) and any other
    # work on the machine need, and costs most when there are few cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    available = ort.get_available_providers()
    chosen = [p for p in (providers or ["CPUExecutionProvider"]) if p in available]
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=chosen or ["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own exception types
        raise TilewiseError(
            f"cannot load ONNX model {path}: {str(exc).strip()[:300]} "
            "(expected an ONNX detection model with one image input [batch, 3, height, width])"
        ) from None


class OnnxDetector:
    """A YOLOv8-layout ONNX detector as a batch model for ``Slicer`` (or on its own).

    The model must take one float image input ``[batch, 3, height, width]`` (RGB in
    [0, 1]) and return, as its first output, ``[batch, 4 + classes, anchors]``: box centre,
    width and height in input pixels, then one score per class. Models exported by
    Ultralytics (``yolo export format=onnx``) and by ``tilewise train`` have this layout.
    Images are letterboxed to the input size, run in batches (a graph with a fixed batch
    size is run in chunks of that size), decoded in numpy with per-class
    ``tilewise.nms``, and boxes are returned in each image's own pixels. The three steps
    are also exposed as ``prepare`` / ``forward`` / ``finish`` (a ``StagedModel``), which
    ``Slicer`` overlaps across batches.

    Class names, input size and training tile size are read from the model metadata
    (``names``, ``imgsz``, ``tile_size``) when present.

    Args:
        path: the ``.onnx`` file.
        conf: confidence threshold.
        iou: IoU threshold of the per-class NMS.
        max_det: detections kept per image.
        imgsz: input (height, width) or an int, for graphs with a dynamic spatial size
            (default: the graph's fixed size, else the metadata's, else 640).
        names: class names overriding the metadata's (their count must match the model).
        class_agnostic: NMS across classes.
        providers: ONNX Runtime execution providers (default CPU).
        threads: intra-op threads of ONNX Runtime (default: its own choice).
        spin: let ONNX Runtime's idle intra-op threads spin-wait between ops (its own
            default). Off here: spinning threads hold the CPU cores that reading the next
            batch (the Slicer's read-ahead thread, a raster's decoding) and other processes
            need; on a loaded 2-core machine it made a sliced 4096² raster run 1.6-3x
            slower (benchmarks/RESULTS.md, "Huge rasters"). Turn it on for the last few
            percent of latency on an otherwise idle machine.
        max_batch: split longer image lists into runs of at most this many images.
        max_batch_pixels: split them also into runs of at most this many input pixels
            (``input_hw`` height x width per image; at least one image per run).
            ``"auto"`` (default): ``CPU_RUN_PIXELS`` on ONNX Runtime's CPU provider, where
            small runs cost less per pixel, no limit on any other provider; None: no limit.
            Results are the same whatever the runs.

    A graph with a dynamic height and width (``zooms_input``) can also be run at a larger
    input: ``with_input_zoom(zoom)`` letterboxes every image into ``imgsz * zoom`` (padded
    up to a multiple of the stride), so that the ``Slicer``'s ``zoom`` enlarges what the
    network sees instead of being undone by the letterbox. ``with_dynamic_input`` writes
    such a copy of a fixed-size graph.

    Raises:
        TilewiseError: missing or unreadable file.
        ModelLayoutError: the graph's inputs or outputs are not the expected layout, or
            the class names do not match the output channels.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from tilewise.models.testing import constant_detector_onnx
        >>> path = constant_detector_onnx(pathlib.Path(tempfile.mkdtemp()) / "m.onnx")
        >>> model = OnnxDetector(path, conf=0.5)
        >>> model.names, model.imgsz
        (('a', 'b'), (64, 64))
        >>> [len(d) for d in model([np.zeros((128, 128, 3), np.uint8)] * 3)]
        [1, 1, 1]
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        imgsz: int | tuple[int, int] | None = None,
        names: Sequence[str] | None = None,
        class_agnostic: bool = False,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        spin: bool = False,
        max_batch: int | None = None,
        max_batch_pixels: int | Literal["auto"] | None = "auto",
    ) -> None:
        if not 0.0 <= float(conf) <= 1.0:
            raise TilewiseError(f"conf must be in [0, 1], got {conf}")
        if not 0.0 <= float(iou) <= 1.0:
            raise TilewiseError(f"iou must be in [0, 1], got {iou}")
        if int(max_det) < 1:
            raise TilewiseError(f"max_det must be >= 1, got {max_det}")
        if max_batch is not None and int(max_batch) < 1:
            raise TilewiseError(f"max_batch must be >= 1 or None, got {max_batch}")
        self.path = Path(path)
        self.conf = float(conf)
        self.iou = float(iou)
        self.max_det = int(max_det)
        self.class_agnostic = bool(class_agnostic)
        self.max_batch = None if max_batch is None else int(max_batch)
        if max_batch_pixels not in (None, "auto") and (
            isinstance(max_batch_pixels, bool)
            or not isinstance(max_batch_pixels, (int, np.integer))
            or max_batch_pixels < 1
        ):
            raise TilewiseError(
                f"max_batch_pixels must be an int >= 1, 'auto' or None, got {max_batch_pixels!r}"
            )
        self.spin = bool(spin)
        self.session = _open_session(self.path, providers, threads, self.spin)
        self.max_batch_pixels: int | None = (
            (CPU_RUN_PIXELS if self.on_cpu else None)
            if max_batch_pixels == "auto"
            else (None if max_batch_pixels is None else int(max_batch_pixels))
        )
        """Input pixels per graph run at most (None: no limit); see ``max_batch_pixels``."""
        meta = self.session.get_modelmeta()
        self.metadata = ModelMetadata.from_props(dict(meta.custom_metadata_map or {}))
        if self.metadata.task not in (None, "detect"):
            raise ModelLayoutError(
                f"{self.path.name} is a {self.metadata.task!r} model; OnnxDetector runs "
                "detection models (task 'detect', output [batch, 4 + classes, anchors])"
            )
        self._read_input(imgsz)
        self._read_output(names)
        self.stride = int(self.metadata.stride or _DEFAULT_STRIDE)
        self.input_zoom = 1.0
        self._box_hw = self.imgsz  # each image is letterboxed into this (height, width)
        self.input_hw: tuple[int, int] = self.imgsz
        """The (height, width) of the tensor given to the graph."""

    # ------------------------------------------------------------------ graph checks
    def _read_input(self, imgsz: int | tuple[int, int] | None) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelLayoutError(
                f"{self.path.name} has {len(inputs)} inputs "
                f"({[i.name for i in inputs]}); expected one image input [batch, 3, height, width]"
            )
        inp = inputs[0]
        shape = list(inp.shape)
        if len(shape) != 4 or _dim(shape[1]) not in (None, 3):
            raise ModelLayoutError(
                f"{self.path.name} input {inp.name!r} has shape {shape}; expected "
                "[batch, 3, height, width]"
            )
        if inp.type not in ("tensor(float)", "tensor(float16)"):
            raise ModelLayoutError(
                f"{self.path.name} input {inp.name!r} is {inp.type}; expected a float tensor "
                "(RGB scaled to [0, 1])"
            )
        self.input_name = inp.name
        self._input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self.fixed_batch = _dim(shape[0])
        fixed_hw = (_dim(shape[2]), _dim(shape[3]))
        self.dynamic_hw = not any(fixed_hw)
        wanted = None
        if imgsz is not None:
            wanted = (int(imgsz), int(imgsz)) if isinstance(imgsz, (int, np.integer)) else imgsz
            wanted = (int(wanted[0]), int(wanted[1]))
        if all(fixed_hw):
            graph_hw = (int(fixed_hw[0]), int(fixed_hw[1]))  # type: ignore[arg-type]
            if wanted is not None and wanted != graph_hw:
                raise ModelLayoutError(
                    f"{self.path.name} has a fixed input size {graph_hw[0]}x{graph_hw[1]} "
                    f"(height x width); imgsz={wanted} cannot be used"
                )
            self.imgsz = graph_hw
        else:
            self.imgsz = wanted or self.metadata.imgsz or (_DEFAULT_IMGSZ, _DEFAULT_IMGSZ)

    def _read_output(self, names: Sequence[str] | None) -> None:
        outputs = self.session.get_outputs()
        if not outputs:
            raise ModelLayoutError(f"{self.path.name} has no outputs")
        out = outputs[0]
        self.output_name = out.name
        given = parse_names(list(names)) if names is not None else None
        known = given if given is not None else self.metadata.names
        declared = [_dim(d) if _dim(d) is not None else d for d in out.shape]
        try:
            nc = check_output_shape(declared, None if known is None else len(known))
        except ModelLayoutError as exc:
            raise ModelLayoutError(f"{self.path.name}: {exc}") from None
        self.names: tuple[str, ...] = (
            known if known is not None else tuple(f"class_{i}" for i in range(nc))
        )

    # ------------------------------------------------------------------ properties
    @property
    def num_classes(self) -> int:
        """Number of classes the model predicts."""
        return len(self.names)

    @property
    def on_cpu(self) -> bool:
        """Whether the session runs on the CPU execution provider only (no accelerator)."""
        return self.session.get_providers() == ["CPUExecutionProvider"]

    @property
    def tile_size(self) -> tuple[int, int] | None:
        """The training tile (height, width) from the metadata, if recorded."""
        return self.metadata.tile_size

    @property
    def slice_wh(self) -> tuple[int, int]:
        """The natural slice (width, height): the training tile size, else the input size.

        Example:
            >>> import tempfile, pathlib
            >>> from tilewise.models.testing import constant_detector_onnx
            >>> p = constant_detector_onnx(pathlib.Path(tempfile.mkdtemp()) / "m.onnx")
            >>> OnnxDetector(p).slice_wh
            (64, 64)
        """
        h, w = self.tile_size or self.imgsz
        return (w, h)

    @property
    def zooms_input(self) -> bool:
        """Whether ``with_input_zoom`` can enlarge the input (a dynamic height and width).

        A ``Slicer`` zoom on such a model enlarges the network input
        (``tilewise.slicing.zoom.zoomed``); on a fixed-size graph the letterbox undoes it.
        """
        return self.dynamic_hw

    def with_input_zoom(self, zoom: float) -> OnnxDetector:
        """This detector with every image letterboxed into ``imgsz * zoom`` (same session).

        The scale is exact: the letterbox box is ``round(imgsz * zoom)``; when that is not
        a multiple of the stride (the graph needs one) the tensor is padded at the right
        and bottom up to the next multiple (``input_hw``). ``zoom`` is relative to
        ``imgsz``, whatever this detector's own ``input_zoom``; 1.0 gives the plain
        detector's input.

        Raises:
            TilewiseError: ``zoom`` is not a finite number > 0, or the graph has a fixed
                input size (``zooms_input`` is False).

        Example:
            >>> import tempfile, pathlib, numpy as np
            >>> from tilewise.models.testing import constant_detector_onnx
            >>> p = constant_detector_onnx(pathlib.Path(tempfile.mkdtemp()) / "m.onnx",
            ...                            dynamic_hw=True)
            >>> model = OnnxDetector(p, conf=0.5)
            >>> model.zooms_input, model.with_input_zoom(1.25).input_hw
            (True, (96, 96))
            >>> model.with_input_zoom(2.0)([np.zeros((64, 64, 3), np.uint8)])[0].xyxy.tolist()
            [[12.0, 12.0, 20.0, 20.0]]
        """
        value = check_zoom(zoom)
        if not self.dynamic_hw:
            h, w = self.imgsz
            raise TilewiseError(
                f"{self.path.name} has a fixed input size {h}x{w} (height x width): its input "
                "cannot be zoomed (tilewise.models.with_dynamic_input writes a copy of the "
                "graph with a dynamic height and width)"
            )
        out = copy.copy(self)
        out.input_zoom = value
        h, w = self.imgsz
        box = (max(1, round(h * value)), max(1, round(w * value)))
        out._box_hw = box
        if value == 1.0:
            out.input_hw = self.imgsz
        else:
            s = self.stride
            out.input_hw = (math.ceil(box[0] / s) * s, math.ceil(box[1] / s) * s)
        return out

    def __repr__(self) -> str:
        zoom = f", input_zoom={self.input_zoom:g}" if self.input_zoom != 1.0 else ""
        return (
            f"OnnxDetector({self.path.name!r}, classes={self.num_classes}, "
            f"imgsz={self.imgsz}{zoom}, tile_size={self.tile_size}, conf={self.conf}, "
            f"iou={self.iou})"
        )

    # ------------------------------------------------------------------ inference
    def run_size(self, images: int) -> int:
        """Images per graph run for a list of ``images``.

        The graph's fixed batch if it has one; else at most ``max_batch`` images and
        ``max_batch_pixels`` input pixels (``input_hw``), and at least one image.

        Example:
            >>> import tempfile, pathlib
            >>> from tilewise.models.testing import constant_detector_onnx
            >>> p = constant_detector_onnx(pathlib.Path(tempfile.mkdtemp()) / "m.onnx")
            >>> OnnxDetector(p).input_hw, OnnxDetector(p).run_size(100)  # 2**18 / 64**2
            ((64, 64), 64)
            >>> OnnxDetector(p, max_batch_pixels=10_000).run_size(100)
            2
            >>> OnnxDetector(p, max_batch_pixels=None, max_batch=8).run_size(100)
            8
        """
        if self.fixed_batch:
            return self.fixed_batch
        step = max(int(images), 1)
        if self.max_batch is not None:
            step = min(step, self.max_batch)
        if self.max_batch_pixels is not None:
            per_image = self.input_hw[0] * self.input_hw[1]
            step = min(step, max(1, self.max_batch_pixels // per_image))
        return step

    def prepare(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        """Letterbox images into input tensors (the ``StagedModel`` first stage).

        Longer lists are cut into chunks of the graph's fixed batch, else of ``run_size``
        (``max_batch`` images, ``max_batch_pixels`` input pixels).
        """
        if isinstance(images, np.ndarray):
            raise TilewiseError(
                "OnnxDetector takes a list of images (use .predict(image) for one image)"
            )
        items = list(images)
        step = self.run_size(len(items))
        inputs, infos = [], []
        for start in range(0, len(items), step):
            batch, chunk_infos = letterbox_batch(
                items[start : start + step], self._box_hw, canvas_hw=self.input_hw
            )
            n = batch.shape[0]
            if self.fixed_batch is not None and n < self.fixed_batch:
                pad = np.zeros((self.fixed_batch - n, *batch.shape[1:]), dtype=batch.dtype)
                batch = np.concatenate([batch, pad])
            if self._input_dtype is not np.float32:
                batch = batch.astype(self._input_dtype)
            inputs.append(batch)
            infos.append(tuple(chunk_infos))
        return PreparedBatch(tuple(inputs), tuple(infos))

    def forward(self, prepared: PreparedBatch) -> list[np.ndarray]:
        """Run the graph on each chunk (the ``StagedModel`` second stage)."""
        outputs = []
        for batch, infos in zip(prepared.inputs, prepared.infos, strict=True):
            try:
                out = self.session.run([self.output_name], {self.input_name: batch})[0]
            except Exception as exc:  # ORT raises its own exception types
                raise ModelLayoutError(
                    f"{self.path.name} failed on a batch of shape {list(batch.shape)}: "
                    f"{str(exc).strip()[:300]}"
                ) from None
            outputs.append(np.asarray(out)[: len(infos)])
        return outputs

    def finish(self, prepared: PreparedBatch, raw: Sequence[np.ndarray]) -> list[Detections]:
        """Decode raw outputs into image-pixel Detections (the ``StagedModel`` last stage)."""
        out: list[Detections] = []
        for output, infos in zip(raw, prepared.infos, strict=True):
            try:
                out.extend(
                    decode_yolov8(
                        output,
                        infos,
                        num_classes=self.num_classes,
                        conf=self.conf,
                        iou=self.iou,
                        max_det=self.max_det,
                        class_agnostic=self.class_agnostic,
                    )
                )
            except ModelLayoutError as exc:
                raise ModelLayoutError(f"{self.path.name}: {exc}") from None
        return out

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect in a list of H x W x 3 uint8 RGB images; one ``Detections`` per image."""
        prepared = self.prepare(images)
        if not len(prepared):
            return []
        return self.finish(prepared, self.forward(prepared))

    def predict(self, image: ImageLike) -> Detections:
        """Detect in one image (an RGB array or a path), on the whole frame.

        Example:
            >>> import tempfile, pathlib, numpy as np
            >>> from tilewise.models.testing import constant_detector_onnx
            >>> p = constant_detector_onnx(pathlib.Path(tempfile.mkdtemp()) / "m.onnx")
            >>> OnnxDetector(p).predict(np.zeros((64, 64, 3), np.uint8)).xyxy.tolist()
            [[24.0, 24.0, 40.0, 40.0]]
        """
        return self([load_image(image)])[0]
