"""Writes torch.save test inputs, and judges bigconv's .npy outputs.

    torchcases.py write DIR        writes DIR/*.pt, prints their names
    torchcases.py judge DIR MAP    MAP (JSON): {file: {"tensors": {name: npy},
                                   "values": [name, ...]}}; prints "ok N"

Run by torch_test.go with Debian's /usr/bin/python3 (python3-torch). A
tensor is judged against torch.load(file)[...].contiguous().numpy()
(bfloat16 through .float()) value for value, dtype and shape included.
Names are paths joined with ".": dict keys, list and tuple indices; a
sub-object holding no tensor is one non-tensor value.
"""
import collections
import json
import os
import sys

import numpy as np
import torch

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.int16,
          torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64, torch.complex128]


def sample(dt, shape, seed):
    g = torch.Generator().manual_seed(seed)
    if dt == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dt.is_complex:
        return torch.randn(shape, dtype=dt, generator=g)
    if dt.is_floating_point:
        t = (torch.randn(shape, generator=g) * 100).to(dt)
        flat = t.view(-1)
        if flat.numel() >= 4:
            flat[0], flat[1], flat[2] = float("nan"), float("inf"), float("-inf")
        return t
    info = torch.iinfo(dt)
    return torch.randint(info.min, info.max, shape, dtype=dt, generator=g)


def cases():
    c = {}
    c["dtypes"] = {str(dt).replace("torch.", ""): sample(dt, (3, 5), i) for i, dt in enumerate(DTYPES)}
    base = torch.arange(4 * 6 * 5, dtype=torch.float32).reshape(4, 6, 5)
    c["views"] = collections.OrderedDict([
        ("base", base),                        # shares its storage with all below
        ("swap01", base.transpose(0, 1)),
        ("t2d", base[1].t()),                  # Fortran order
        ("rev", base.permute(2, 1, 0)),        # Fortran order, 3-D
        ("perm", base.permute(2, 0, 1)),
        ("col", base[:, 2]),
        ("colcol", base[:, :, 3]),
        ("step", base[1:3, ::2, 1:]),
        ("offset_row", base[2, 3]),
        ("scalar_view", base[1, 2, 3]),
        ("expand", torch.arange(3, dtype=torch.int16).reshape(3, 1).expand(3, 4)),
        ("expand0", torch.tensor(7.5, dtype=torch.float64).expand(2, 3)),
        ("unsq", base[0, :, 1][None, :, None]),
        ("half_t", sample(torch.float16, (7, 9), 50).t()),
        ("bf16_col", sample(torch.bfloat16, (8, 6), 51)[:, 1:4:2]),
        ("cplx_t", sample(torch.complex128, (3, 4), 52).t()),
        ("bool_step", sample(torch.bool, (10,), 53)[::3]),
    ])
    c["scalars"] = {"zero_d": torch.tensor(3.25), "zero_d_int": torch.tensor(-9, dtype=torch.int64),
                    "empty": torch.zeros(0, 3), "empty_view": torch.zeros(4, 3)[:, 3:], "one": torch.ones(1)}
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(5, 4)).sum().backward()
    opt.step()
    c["checkpoint"] = {"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
                       "layers": [torch.randn(2, 2), torch.randn(3)], "pair": (torch.arange(4), {"x": torch.ones(2, 2, dtype=torch.int8)}),
                       "note": "trained", "best": 0.25, "empty_list": []}
    c["param"] = torch.nn.Parameter(torch.randn(2, 3))
    attr = torch.randn(3, 2)
    attr.tag = "hello"                         # saved with _rebuild_from_type_v2
    c["attr"] = {"t": attr, "p": torch.nn.Parameter(torch.randn(2))}
    c["bare"] = sample(torch.float64, (2, 3, 4), 7).permute(1, 2, 0)
    return c


def big_cases():
    # strided reads that take the gather's direct and windowed paths
    g = torch.Generator().manual_seed(9)
    wide = torch.randn(6, 300000, generator=g)
    return {"big": {"wide_col": wide[:, 7], "wide_slice": wide[:, 1000:100000], "wide_step": wide[:, ::3],
                    "tall_t": torch.randn(3000, 70, generator=g).t(), "perm": torch.randn(50, 40, 30, generator=g).permute(1, 2, 0)}}


def write(d):
    names = []
    for name, obj in cases().items():
        for proto in (2, 4):
            for fmt in ("zip", "legacy"):
                fn = f"{name}_p{proto}_{fmt}.pt"
                torch.save(obj, os.path.join(d, fn), pickle_protocol=proto,
                           _use_new_zipfile_serialization=(fmt == "zip"))
                names.append(fn)
    for name, obj in big_cases().items():
        fn = f"{name}_p2_zip.pt"
        torch.save(obj, os.path.join(d, fn))
        names.append(fn)
    print(json.dumps(names))


def holds_tensor(v):
    if isinstance(v, torch.Tensor):
        return True
    if isinstance(v, dict):
        return any(holds_tensor(x) for x in v.values())
    if isinstance(v, (list, tuple, set, frozenset)):
        return any(holds_tensor(x) for x in v)
    return False


def walk(v, name, tensors, values):
    if isinstance(v, torch.Tensor):
        tensors[name] = v
    elif not holds_tensor(v):
        values.append(name)
    elif isinstance(v, dict):
        for k, x in v.items():
            walk(x, (name + "." if name else "") + str(k), tensors, values)
    else:
        for i, x in enumerate(v):
            walk(x, (name + "." if name else "") + str(i), tensors, values)


def judge(d, mapfile):
    with open(mapfile) as f:
        got = json.load(f)
    n, bad = 0, []
    for fn, g in sorted(got.items()):
        obj = torch.load(os.path.join(d, fn))
        tensors, values = {}, []
        walk(obj, "", tensors, values)
        if set(tensors) != set(g["tensors"]):
            bad.append(f"{fn}: tensors {sorted(tensors)} != bigconv {sorted(g['tensors'])}")
        if sorted(values) != sorted(g["values"]):
            bad.append(f"{fn}: values {sorted(values)} != bigconv {sorted(g['values'])}")
        for name, t in tensors.items():
            if name not in g["tensors"]:
                continue
            want = t.detach().contiguous()
            if want.dtype == torch.bfloat16:
                want = want.float()
            want = want.numpy()
            have = np.load(os.path.join(d, g["tensors"][name]))
            if have.dtype != want.dtype or have.shape != want.shape:
                bad.append(f"{fn}: {name!r}: bigconv {have.dtype} {have.shape}, torch {want.dtype} {want.shape}")
            elif not np.array_equal(have, want, equal_nan=want.dtype.kind in "fc"):
                bad.append(f"{fn}: {name!r}: values differ: bigconv {have.ravel()[:6]}, torch {want.ravel()[:6]}")
            elif not have.flags.c_contiguous:
                bad.append(f"{fn}: {name!r}: not C order")
            else:
                n += 1
    if bad:
        print("\n".join(bad))
        sys.exit(1)
    print("ok", n)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        judge(sys.argv[2], sys.argv[3])
