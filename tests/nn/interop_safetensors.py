"""interop_safetensors.py TEST_EXE DIR - safetensors files between nabla and
numpy, with nothing but json and numpy on the Python side.  TEST_EXE is
test_nn_checkpoint: "write FILE" saves a 4-5-3 MLP whose parameters follow
value() below, "check FILE" opens one and checks them.  Exit 77 (skipped)
when numpy cannot be imported."""
import json
import os
import struct
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("numpy not importable: skipped")
    sys.exit(77)

exe, outdir = sys.argv[1], sys.argv[2]
failed = 0


def value(name, shape):
    """The values test_checkpoint.c's interop_value() gives, row-major."""
    base = (0.5 if name[0] == "W" else -0.25) * int(name[1])
    return base + 0.001 * np.arange(int(np.prod(shape))).reshape(shape)


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        dt = {"F32": "<f4", "F64": "<f8"}[e["dtype"]]
        b, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[b:end], dtype=dt).reshape(e["shape"])
    return tensors, meta


def write(path, tensors, meta):
    header, blobs, at = {}, [], 0
    for name, a in tensors.items():
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        dt = {np.dtype("float32"): "F32", np.dtype("float64"): "F64"}[a.dtype]
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def check(cond, what):
    global failed
    if not cond:
        failed += 1
        print("FAIL:", what)


# nabla writes, numpy reads
path = os.path.join(outdir, "from_nabla.safetensors")
subprocess.run([exe, "write", path], check=True)
tensors, meta = read(path)
check(sorted(tensors) == ["W1", "W2", "b1", "b2"], "tensor names %s" % sorted(tensors))
check(meta.get("widths") == "4,5,3" and meta.get("format") == "nabla-mlp/1", "metadata")
shapes = {"W1": (4, 5), "b1": (5,), "W2": (5, 3), "b2": (3,)}
for name, a in tensors.items():
    check(a.shape == shapes[name] and a.dtype == np.float32, name + " shape/dtype")
    check(np.allclose(a, value(name, shapes[name]), atol=1e-6), name + " values")

# numpy writes (F64 weights, F32 biases, its own order), nabla reads
path = os.path.join(outdir, "from_numpy.safetensors")
out = {}
for name in ["b2", "W1", "W2", "b1"]:
    out[name] = value(name, shapes[name]).astype(np.float32 if name[0] == "b" else np.float64)
write(path, out, {"format": "nabla-mlp/1", "widths": "4,5,3", "activation": "relu",
                  "loss": "xent", "dtype": "f64"})
r = subprocess.run([exe, "check", path])
check(r.returncode == 0, "nabla reading the numpy file")

print("%s" % ("ok" if failed == 0 else "%d failed" % failed))
sys.exit(1 if failed else 0)
