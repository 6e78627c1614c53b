#!/usr/bin/python3
"""The BN MLPs of the serving benchmarks, made by PyTorch from one seed: weights as a safetensors
state dict (what bnorm's InferenceModel loads) and the same network as ONNX (what ONNX Runtime
runs), so both peers compute the same function.

Usage: /usr/bin/python3 bench/peers/export_mlp.py OUTDIR [small|wide ...]
  small: 64-100-100-100-10, wide: 1024-4096-4096-1000 (~100 MB; generated at benchmark time, never
  committed). Each hidden layer is Linear(bias=False) -> BatchNorm1d -> ReLU, the last a Linear
  with bias. BatchNorm's running statistics come from training-mode passes over random batches,
  gamma and beta are random; then the model is exported in eval mode with a dynamic batch axis.
Writes OUTDIR/NAME.safetensors and OUTDIR/NAME.onnx.
"""
import json
import os
import struct
import sys

import torch

WIDTHS = {"small": [64, 100, 100, 100, 10], "wide": [1024, 4096, 4096, 1000]}
SEED = 1414


def make(widths):
    nn = torch.nn
    layers = []
    for i in range(len(widths) - 2):
        layers += [nn.Linear(widths[i], widths[i + 1], bias=False), nn.BatchNorm1d(widths[i + 1]), nn.ReLU()]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


def save_safetensors(path, state):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for key, t in state.items():
        t = t.detach().contiguous()
        if t.dtype == torch.float32:
            dtype, blob = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.int64:
            dtype, blob = "I64", t.numpy().astype("<i8").tobytes()
        else:
            raise ValueError("%s: unsupported dtype %s" % (key, t.dtype))
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(WIDTHS)
    os.makedirs(outdir, exist_ok=True)
    for name in names:
        torch.manual_seed(SEED)
        widths = WIDTHS[name]
        model = make(widths)
        with torch.no_grad():
            for m in model:
                if isinstance(m, torch.nn.BatchNorm1d):
                    m.weight.copy_(torch.rand(m.num_features) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features) * 0.2)
            model.train()
            for _ in range(10):
                model(torch.randn(64, widths[0]))
        model.eval()
        save_safetensors(os.path.join(outdir, name + ".safetensors"), model.state_dict())
        torch.onnx.export(model, torch.randn(1, widths[0]), os.path.join(outdir, name + ".onnx"),
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
        print("wrote %s.safetensors and %s.onnx (torch %s)" % (name, name, torch.__version__))


if __name__ == "__main__":
    main()
