"""Import torchvision with pure-Python stand-ins for its compiled operators, when they do not load.

torchvision 0.28.0 is the release for torch 2.13, but its Linux wheel is linked against CUDA torch
(``libc10_cuda.so``): with the CPU torch its ``_C`` extension does not load, and ``import torchvision``
then fails on ``operator torchvision::nms does not exist`` (its meta registrations need the op). The
writers of the YOLO and timm test runs need torchvision importable and ``torchvision.ops.nms`` working,
so this defines ``torchvision::nms`` / ``torchvision::qnms`` with ``torch.library`` (a plain greedy NMS
in Python) before torchvision is imported. Where the real operators load, nothing is replaced.
"""

from __future__ import annotations

import sys


def _nms(boxes, scores, iou_threshold):  # type: ignore[no-untyped-def]
    import torch

    order = scores.argsort(descending=True)
    keep = []
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    while order.numel():
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if not rest.numel():
            break
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter).clamp(min=1e-12)
        order = rest[iou <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


def import_torchvision():  # type: ignore[no-untyped-def]
    """``import torchvision``, with the stand-in operators registered first when the compiled ones fail;
    None when torchvision is not installed (MMEngine and Keras do not need it)."""
    try:
        import torchvision

        return torchvision
    except ImportError:
        return None
    except RuntimeError as e:
        if "torchvision::" not in str(e):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", _nms, "CompositeExplicitAutograd")
    lib.impl("qnms", _nms, "CompositeExplicitAutograd")
    _LIBS.append(lib)  # a Library unregisters its ops when collected
    import torchvision
    import torchvision.extension

    torchvision.extension._has_ops = lambda: True  # ops.nms asserts the extension loaded
    return torchvision


_LIBS: list = []
