#!/usr/bin/env python3
"""Checks with h5py that a file TfSyncBN wrote has Keras's HDF5 layout (the CI check of KerasFileWriteTests).

usage: check_keras_layout.py FILE EXPECTED_JSON
EXPECTED_JSON: {"layout": "keras3" | "keras2" | "keras2_full" | "keras_archive",
                "layers": [name, ...],                 # layers in model order (Keras 2: layer_names)
                "weights": {path: {"shape": [...], "values": [...]}}}
keras3 (saving_lib.H5IOStore): layers/<name>/vars/<i> float32 datasets, a root "vars" group.
keras2 (legacy_h5_format.save_weights_to_hdf5_group): root attrs layer_names, backend, keras_version; per layer
  attr weight_names; datasets at <layer>/<weight name>.
keras2_full (legacy_h5_format.save_model_to_hdf5): root attrs model_config (JSON), keras_version, backend; the
  keras2 layout in group model_weights.
keras_archive: a zip with config.json, metadata.json and model.weights.h5 in the keras3 layout.
Prints OK or raises AssertionError naming what differs.
"""
import io
import json
import sys
import zipfile

import h5py
import numpy as np


def s(v):
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def check_values(f, weights):
    for path, want in weights.items():
        assert path in f, f"missing dataset {path}"
        d = f[path]
        assert isinstance(d, h5py.Dataset), f"{path} is not a dataset"
        assert d.dtype == np.float32, f"{path} dtype {d.dtype}"
        assert list(d.shape) == want["shape"], f"{path} shape {d.shape} != {want['shape']}"
        np.testing.assert_array_equal(d[...].ravel(), np.asarray(want["values"], dtype=np.float32), err_msg=path)


def check_keras3(f, exp):
    assert "vars" in f and isinstance(f["vars"], h5py.Group), "no root vars group"
    assert "layers" in f, "no layers group"
    for name in exp["layers"]:
        assert f"layers/{name}/vars" in f, f"no layers/{name}/vars"
    check_values(f, exp["weights"])


def check_keras2(g, exp):
    names = [s(n) for n in g.attrs["layer_names"]]
    assert names == exp["layers"], f"layer_names {names}"
    assert s(g.attrs["backend"]) == "tensorflow"
    assert s(g.attrs["keras_version"]).startswith("2."), g.attrs["keras_version"]
    for name in names:
        wn = [s(n) for n in g[name].attrs["weight_names"]]
        for w in wn:
            assert w in g[name], f"{name}: weight_names lists {w} but no dataset"
    check_values(g, exp["weights"])


def main():
    path, exp = sys.argv[1], json.load(open(sys.argv[2]))
    layout = exp["layout"]
    if layout == "keras_archive":
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            assert {"config.json", "metadata.json", "model.weights.h5"} <= names, names
            config = json.loads(z.read("config.json"))
            assert config["module"] == "keras" and "class_name" in config and "config" in config, config.keys()
            json.loads(z.read("metadata.json"))["keras_version"]
            with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
                check_keras3(f, exp)
    else:
        with h5py.File(path, "r") as f:
            if layout == "keras3":
                check_keras3(f, exp)
            elif layout == "keras2":
                check_keras2(f, exp)
            else:
                json.loads(s(f.attrs["model_config"]))["class_name"]
                assert s(f.attrs["backend"]) == "tensorflow"
                check_keras2(f["model_weights"], exp)
    print("OK")


main()
