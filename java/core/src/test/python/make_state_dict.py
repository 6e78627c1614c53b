#!/usr/bin/python3
"""PyTorch fixture for bnorm's Module API: a tiny MLP trained with PyTorch, its state dicts as
safetensors, and the numbers a Java test needs to repeat the training and the inference.

Usage (from the repository root, with Debian's python3-torch; no safetensors package needed, the
format is written and read here with struct/json):
    /usr/bin/python3 java/core/src/test/python/make_state_dict.py [outdir]
        writes mlp_init.safetensors, mlp_trained.safetensors and mlp.txt
        (outdir defaults to java/core/src/test/resources/nn)
    /usr/bin/python3 java/core/src/test/python/make_state_dict.py --check FILE.safetensors [outdir]
        loads FILE (e.g. saved by bnorm's StateDicts.save) into the same PyTorch model with
        load_state_dict(strict=True) and compares its eval output on mlp.txt's eval.x with eval.out

Model: Sequential(Linear(6, 8, bias=False), BatchNorm1d(8), ReLU(), Linear(8, 3)), PyTorch's
default initialization and BatchNorm options. Training: STEPS steps of SGD(lr, momentum,
weight_decay) on CrossEntropyLoss (mean) with batches of BATCH random inputs and labels.
mlp.txt: '#' comments, then lines 'key value...'; stepK.loss is the loss of step K computed before
its update; eval.out is the model's output in eval() mode after training. Floats are Python repr()
of float32 values, which Java's Double.parseDouble then (float) reads exactly.
"""
import json
import os
import struct
import sys

import torch

SEED = 20240612
IN, HIDDEN, OUT = 6, 8, 3
BATCH, STEPS, EVAL_BATCH = 5, 4, 7
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 0.01


def make_model():
    return torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN, bias=False), torch.nn.BatchNorm1d(HIDDEN),
                               torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT))


def save_safetensors(path, state):
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for key, t in state.items():
        t = t.detach().contiguous().reshape(-1)
        if t.dtype == torch.float32:
            dtype, blob = "F32", struct.pack("<%df" % t.numel(), *t.tolist())
        elif t.dtype == torch.int64:
            dtype, blob = "I64", struct.pack("<%dq" % t.numel(), *t.tolist())
        elif t.dtype in (torch.bfloat16, torch.float16):  # the raw 16-bit patterns
            dtype = "BF16" if t.dtype == torch.bfloat16 else "F16"
            blob = struct.pack("<%dh" % t.numel(), *t.view(torch.int16).tolist())
        else:
            raise ValueError("%s: unsupported dtype %s" % (key, t.dtype))
        shape = list(state[key].shape)
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    state = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        fmt = {"F32": "f", "I64": "q"}[entry["dtype"]]
        values = struct.unpack("<%d%s" % ((end - begin) // struct.calcsize(fmt), fmt), data[begin:end])
        dtype = torch.float32 if fmt == "f" else torch.int64
        state[key] = torch.tensor(values, dtype=dtype).reshape(entry["shape"])
    return state


def line(key, value):
    if isinstance(value, torch.Tensor):
        value = " ".join(repr(float(v)) if value.is_floating_point() else str(int(v))
                         for v in value.reshape(-1).tolist())
    return "%s %s\n" % (key, value)


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(SEED)
    model = make_model()
    save_safetensors(os.path.join(outdir, "mlp_init.safetensors"), model.state_dict())
    lines = [line("in", IN), line("hidden", HIDDEN), line("out", OUT), line("batch", BATCH),
             line("steps", STEPS), line("lr", repr(LR)), line("momentum", repr(MOMENTUM)),
             line("weight_decay", repr(WEIGHT_DECAY))]
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for k in range(1, STEPS + 1):
        x = torch.randn(BATCH, IN)
        y = torch.randint(0, OUT, (BATCH,))
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        lines += [line("step%d.x" % k, x), line("step%d.labels" % k, y), line("step%d.loss" % k, loss.detach())]
    save_safetensors(os.path.join(outdir, "mlp_trained.safetensors"), model.state_dict())
    model.eval()
    x = torch.randn(EVAL_BATCH, IN)
    with torch.no_grad():
        out = model(x)
    lines += [line("eval.x", x), line("eval.out", out)]
    with open(os.path.join(outdir, "mlp.txt"), "w") as f:
        f.write("# generated by make_state_dict.py (seed %d) with torch %s; do not edit\n"
                % (SEED, torch.__version__))
        f.write("# %s\n" % str(model).replace("\n", " "))
        f.writelines(lines)
    print("wrote mlp_init.safetensors, mlp_trained.safetensors, mlp.txt to %s" % os.path.normpath(outdir))


def check(path, outdir):
    values = {}
    with open(os.path.join(outdir, "mlp.txt")) as f:
        for text in f:
            if text.strip() and not text.startswith("#"):
                key, rest = text.split(" ", 1)
                values[key] = rest.split()
    model = make_model()
    model.load_state_dict(load_safetensors(path), strict=True)
    model.eval()
    x = torch.tensor([float(v) for v in values["eval.x"]]).reshape(EVAL_BATCH, IN)
    expected = torch.tensor([float(v) for v in values["eval.out"]]).reshape(EVAL_BATCH, OUT)
    with torch.no_grad():
        out = model(x)
    diff = (out - expected).abs().max().item()
    print("%s: num_batches_tracked %d, max |eval out - expected| = %.3g"
          % (path, int(model[1].num_batches_tracked), diff))
    return diff < 1e-4


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "resources", "nn")
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        ok = check(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else default)
        sys.exit(0 if ok else 1)
    generate(sys.argv[1] if len(sys.argv) > 1 else default)


if __name__ == "__main__":
    main()
