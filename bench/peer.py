"""The Python peers bigconv is measured against (run by `go run ./bench`).

    /usr/bin/python3 peer.py numpy|dask|torch SPEC_JSON

SPEC_JSON: {"in": path, "kind": "raw"|"npy"|"onnx", "in_dtype": "<f4" (raw only),
"shape": [...] (raw only), "out": path, "out_dtype": "<f4",
"op": "astype"|"bf16", "block_bytes": N}

numpy: the chunked loop a NumPy user writes today: a memory-mapped input
(np.memmap for raw dumps, np.load(mmap_mode="r") for .npy), an
np.lib.format.open_memmap output, a loop over row blocks of about
block_bytes of input with astype, then flush() (msync).

dask: dask.array.from_array(input, chunks=row blocks of block_bytes)
.astype(...) stored with da.store(lock=False) into open_memmap, then flush().

op "bf16": the input holds bfloat16 bits (read as <u2); widened by hand as a
user would: view uint16, astype uint32, << 16, view float32.

torch (SPEC kind "pt": {"in": a torch.save file of one tensor, "out": path}):
what a user writes today to turn a .pt into a float32 .npy — torch.load (the
whole file in RAM; torch 1.13 has no mmap=True), .float().numpy(), np.save,
then os.fsync as bigconv's commit and NumPy's flush() make the output durable.

Prints the seconds spent after imports (open → flush) on stdout.
"""
import json
import sys
import time

import numpy as np


def onnx_peer(spec):
    """What a user runs today on an ONNX model: onnx.load (the whole
    model in RAM), numpy_helper.to_array and np.save of each initializer
    into the output directory, each file fsynced (as bigconv's commit)."""
    import os
    import onnx
    from onnx import numpy_helper
    t0 = time.perf_counter()
    m = onnx.load(spec["in"])
    os.makedirs(spec["out"])
    for t in m.graph.initializer:
        p = os.path.join(spec["out"], t.name.replace("/", "_") + ".npy")
        np.save(p, numpy_helper.to_array(t))
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    print("%.6f" % (time.perf_counter() - t0))


def main():
    tool, spec = sys.argv[1], json.loads(sys.argv[2])
    if spec.get("kind") == "onnx":
        return onnx_peer(spec)
    if tool == "dask":
        import dask.array as da
    if tool == "torch":
        import os
        import torch
        t0 = time.perf_counter()
        t = torch.load(spec["in"])
        with open(spec["out"], "wb") as f:
            np.save(f, t.float().numpy())
            f.flush()
            os.fsync(f.fileno())
        print("%.6f" % (time.perf_counter() - t0))
        return
    t0 = time.perf_counter()
    if spec["kind"] == "raw":
        x = np.memmap(spec["in"], dtype=spec["in_dtype"], mode="r",
                      shape=tuple(spec["shape"]))
    else:
        x = np.load(spec["in"], mmap_mode="r")
    out = np.lib.format.open_memmap(spec["out"], mode="w+",
                                    dtype=np.dtype(spec["out_dtype"]),
                                    shape=x.shape)
    row_bytes = x[0].nbytes if x.ndim > 1 else x.itemsize
    rows = max(1, spec["block_bytes"] // max(row_bytes, 1))
    if tool == "numpy":
        for a in range(0, x.shape[0], rows):
            blk = x[a:a + rows]
            if spec["op"] == "bf16":
                out[a:a + rows] = (blk.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                out[a:a + rows] = blk.astype(spec["out_dtype"])
    elif tool == "dask":
        d = da.from_array(x, chunks=(rows,) + x.shape[1:])
        if spec["op"] == "bf16":
            y = (d.astype(np.uint32) << 16).view(np.float32)
        else:
            y = d.astype(spec["out_dtype"])
        da.store(y, out, lock=False)
    else:
        sys.exit("peer.py: unknown tool " + tool)
    out.flush()
    del out
    print("%.6f" % (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
