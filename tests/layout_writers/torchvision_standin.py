"""A pure-Python stand-in for torchvision's compiled operators, registered before torchvision is imported.

The torchvision wheel that matches torch 2.13 is linked against CUDA torch, so with the CPU build its
compiled operators (``torchvision::nms``, ``torchvision::qnms``) do not load and ``import torchvision``
fails. Lightning, timm and Ultralytics import torchvision when it is installed, so every real-run writer
imports this module first. It defines the two operators torchvision's fake registrations need, and a CPU
``nms`` (greedy, by IoU, highest score first) that detection post-processing calls. Nothing of runwatch
uses it: only the test writers, which produce the runs runwatch reads. The YOLO, timm and MMEngine
writers call ``import_torchvision()`` (torchvision itself, or None where it is not installed).
"""

from __future__ import annotations


def install() -> None:
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018 (the compiled library loaded: nothing to stand in for)
        return
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")

    def nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        if dets.numel() == 0:
            return torch.empty(0, dtype=torch.long)
        x1, y1, x2, y2 = dets.float().unbind(1)
        areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
        order = scores.argsort(descending=True)
        keep = []
        while order.numel() > 0:
            i = int(order[0])
            keep.append(i)
            rest = order[1:]
            w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
            h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
            inter = w * h
            iou = inter / (areas[i] + areas[rest] - inter).clamp(min=1e-12)
            order = rest[iou <= iou_threshold]
        return torch.tensor(keep, dtype=torch.long)

    lib.impl("nms", nms, "CPU")
    lib.impl("qnms", nms, "CPU")
    install.lib = lib  # type: ignore[attr-defined]  # the library must outlive this call
    try:
        import torchvision.extension
    except ImportError:  # torchvision not installed: nothing else to do
        return
    # Imported (its fake registrations found the two operators); now let torchvision.ops call them.
    torchvision.extension._has_ops = lambda: True


def import_torchvision():  # type: ignore[no-untyped-def]
    """``import torchvision`` with the stand-ins in place (``install`` ran on import); None when it is not installed."""
    try:
        import torchvision
        import torchvision.extension
    except ImportError:
        return None
    torchvision.extension._has_ops = lambda: True
    return torchvision


install()
