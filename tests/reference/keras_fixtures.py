#!/usr/bin/env python3
"""Writes Keras-format fixtures into tests/reference/keras/ with h5py + numpy (Keras itself is not installable here).

Each file reproduces the structure Keras writes, citing the Keras function it mirrors:
  * tf.keras 2.x model JSON (Model.to_json -> Layer.get_config of keras 2.15) and Keras 3 JSON
    (keras/src/saving/serialization_lib.py serialize_keras_object: module, class_name, config, registered_name,
    build_config; dtype as a DTypePolicy object).
  * Keras 2 full-model .h5 (keras/src/legacy/saving/legacy_h5_format.py save_model_to_hdf5: root attrs
    keras_version, backend, model_config; group model_weights filled by save_weights_to_hdf5_group: attrs
    layer_names, backend, keras_version; one group per layer with attr weight_names such as b"conv2d/kernel:0"
    and one dataset per weight at <layer>/<weight name>).
  * Keras 2 weights-only .h5 (Model.save_weights in tf.keras 2: save_weights_to_hdf5_group on the file root).
  * Keras 3 .weights.h5 (keras/src/saving/saving_lib.py H5IOStore: datasets layers/<name>/vars/<i>, in the layer's
    variable order; vars groups exist for layers without variables too).
Values are fixed random numbers (numpy seed 14); expected outputs are computed here in float64 so the C# tests
compare TfSyncBN's forward pass against an independent implementation.

Run: /usr/bin/python3 tests/reference/keras_fixtures.py
"""
import json
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras")
rng = np.random.default_rng(14)


def init(name):
    # tf.keras 2.13+ and Keras 3 both write the module/registered_name envelope around initializers.
    return {"module": "keras.initializers", "class_name": name, "config": {"seed": None} if "Glorot" in name else {},
            "registered_name": None}


def k2_base(name):
    return {"name": name, "trainable": True, "dtype": "float32"}


def k2_conv(name, filters, act):
    c = k2_base(name)
    c.update({"filters": filters, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
              "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": act,
              "use_bias": True, "kernel_initializer": init("GlorotUniform"), "bias_initializer": init("Zeros"),
              "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
              "kernel_constraint": None, "bias_constraint": None})
    return {"class_name": "Conv2D", "config": c}


def k2_bn(name, cls="BatchNormalization"):
    c = k2_base(name)
    c.update({"axis": [3], "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
              "beta_initializer": init("Zeros"), "gamma_initializer": init("Ones"),
              "moving_mean_initializer": init("Zeros"), "moving_variance_initializer": init("Ones"),
              "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None})
    return {"class_name": cls, "config": c}


def k2_dense(name, units, act):
    c = k2_base(name)
    c.update({"units": units, "activation": act, "use_bias": True, "kernel_initializer": init("GlorotUniform"),
              "bias_initializer": init("Zeros"), "kernel_regularizer": None, "bias_regularizer": None,
              "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None})
    return {"class_name": "Dense", "config": c}


def simple(cls, name, **kw):
    c = k2_base(name)
    c.update(kw)
    return {"class_name": cls, "config": c}


# ---- tf.keras 2.15 Sequential CNN: Conv2D(4, relu) -> BN -> SyncBN -> MaxPool -> Flatten -> Dense(3) ----
k2_seq = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
    {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6, 6, 2], "dtype": "float32", "sparse": False,
                                            "ragged": False, "name": "conv2d_input"}},
    k2_conv("conv2d", 4, "relu"),
    k2_bn("batch_normalization"),
    k2_bn("sync_batch_normalization", "SyncBatchNormalization"),
    simple("MaxPooling2D", "max_pooling2d", pool_size=[2, 2], padding="valid", strides=[2, 2], data_format="channels_last"),
    simple("Flatten", "flatten", data_format="channels_last"),
    k2_dense("dense", 3, "linear"),
]}, "keras_version": "2.15.0", "backend": "tensorflow"}

W = {
    "conv2d": [("kernel", rng.normal(size=(3, 3, 2, 4))), ("bias", rng.normal(size=4) * 0.1)],
    "batch_normalization": [("gamma", 1 + 0.2 * rng.normal(size=4)), ("beta", 0.1 * rng.normal(size=4)),
                            ("moving_mean", 0.5 * rng.normal(size=4)), ("moving_variance", rng.uniform(0.5, 2.0, 4))],
    "sync_batch_normalization": [("gamma", 1 + 0.2 * rng.normal(size=4)), ("beta", 0.1 * rng.normal(size=4)),
                                 ("moving_mean", 0.5 * rng.normal(size=4)),
                                 ("moving_variance", rng.uniform(0.5, 2.0, 4))],
    "dense": [("kernel", rng.normal(size=(36, 3)) * 0.3), ("bias", 0.1 * rng.normal(size=3))],
}
for v in W.values():
    v[:] = [(n, a.astype(np.float32)) for n, a in v]
SEQ_LAYERS = ["conv2d", "batch_normalization", "sync_batch_normalization", "max_pooling2d", "flatten", "dense"]


def save_weights_to_hdf5_group(f, layer_names, weights):
    # legacy_h5_format.save_weights_to_hdf5_group
    f.attrs["layer_names"] = np.array([n.encode("utf8") for n in layer_names])
    f.attrs["backend"] = "tensorflow"
    f.attrs["keras_version"] = "2.15.0"
    for name in layer_names:
        g = f.create_group(name)
        ws = weights.get(name, [])
        names = [f"{name}/{w}:0".encode("utf8") for w, _ in ws]
        g.attrs["weight_names"] = np.array(names, dtype="S") if names else np.array([], dtype="S1")
        for (w, a), n in zip(ws, names):
            d = g.create_dataset(n.decode("utf8"), a.shape, dtype=a.dtype)
            d[...] = a


def save_h5_store(f, layer_names, weights, prefix="layers"):
    # saving_lib.H5IOStore.make(path) -> create_group(path).create_group("vars"); save_own_variables -> vars[str(i)]
    for name in layer_names:
        g = f.create_group(f"{prefix}/{name}/vars")
        for i, (_, a) in enumerate(weights.get(name, [])):
            g.create_dataset(str(i), data=a)
    f.create_group("vars")  # the model's own (empty) variables


# ---- float64 reference forward pass ----
def conv_same(x, k, b):
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, w, k.shape[3]))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nhwc,co->nhwo", xp[:, i:i + h, j:j + w, :], k[i, j])
    return out + b


def bn(x, p, eps=0.001):
    g, b, m, v = [a.astype(np.float64) for _, a in p]
    return (x - m) / np.sqrt(v + eps) * g + b


def seq_forward(x):
    y = np.maximum(conv_same(x, W["conv2d"][0][1].astype(np.float64), W["conv2d"][1][1]), 0)
    y = bn(bn(y, W["batch_normalization"]), W["sync_batch_normalization"])
    n = y.shape[0]
    y = y.reshape(n, 3, 2, 3, 2, 4).max(axis=(2, 4)).reshape(n, -1)
    return y @ W["dense"][0][1].astype(np.float64) + W["dense"][1][1]


x = rng.uniform(size=(2, 6, 6, 2)).astype(np.float32)

# ---- Keras 3 Functional residual model: conv -> BN(synchronized) -> add(input) -> relu -> GAP -> dense ----
def k3(cls, name, cfg, inbound, build=None):
    c = {"name": name, "trainable": True,
         "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}}
    c.update(cfg)
    e = {"module": "keras.layers", "class_name": cls, "config": c, "registered_name": None}
    if build is not None:
        e["build_config"] = {"input_shape": build}
    e["name"] = name
    e["inbound_nodes"] = [{"args": [a], "kwargs": {}} for a in inbound]
    return e


def kt(layer, shape):
    return {"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, 0, 0]}}


S = [None, 6, 6, 2]
k3_fun = {"module": "keras", "class_name": "Functional", "config": {"name": "functional", "trainable": True, "layers": [
    {"module": "keras.layers", "class_name": "InputLayer",
     "config": {"batch_shape": S, "dtype": "float32", "sparse": False, "name": "input_layer"},
     "registered_name": None, "name": "input_layer", "inbound_nodes": []},
    k3("Conv2D", "conv2d", {"filters": 2, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
                            "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "linear",
                            "use_bias": True, "kernel_initializer": init("GlorotUniform"),
                            "bias_initializer": init("Zeros"), "kernel_regularizer": None, "bias_regularizer": None,
                            "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
       [kt("input_layer", S)], S),
    k3("BatchNormalization", "batch_normalization", {"axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": True,
                                                     "scale": True, "beta_initializer": init("Zeros"),
                                                     "gamma_initializer": init("Ones"),
                                                     "moving_mean_initializer": init("Zeros"),
                                                     "moving_variance_initializer": init("Ones"),
                                                     "beta_regularizer": None, "gamma_regularizer": None,
                                                     "beta_constraint": None, "gamma_constraint": None,
                                                     "synchronized": True},
       [kt("conv2d", S)], S),
    k3("Add", "add", {}, [[kt("batch_normalization", S), kt("input_layer", S)]], [S, S]),
    k3("Activation", "activation", {"activation": "relu"}, [kt("add", S)], S),
    k3("GlobalAveragePooling2D", "global_average_pooling2d", {"data_format": "channels_last", "keepdims": False},
       [kt("activation", S)], S),
    k3("Dense", "dense", {"units": 3, "activation": "softmax", "use_bias": True,
                          "kernel_initializer": init("GlorotUniform"), "bias_initializer": init("Zeros"),
                          "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
                          "bias_constraint": None}, [kt("global_average_pooling2d", [None, 2])], [None, 2]),
], "input_layers": [["input_layer", 0, 0]], "output_layers": [["dense", 0, 0]]},
    "registered_name": "Functional", "build_config": {"input_shape": None}, "compile_config": None}

W3 = {
    "conv2d": [("kernel", rng.normal(size=(3, 3, 2, 2)).astype(np.float32)), ("bias", (0.1 * rng.normal(size=2)).astype(np.float32))],
    "batch_normalization": [("gamma", (1 + 0.2 * rng.normal(size=2)).astype(np.float32)),
                            ("beta", (0.1 * rng.normal(size=2)).astype(np.float32)),
                            ("moving_mean", (0.5 * rng.normal(size=2)).astype(np.float32)),
                            ("moving_variance", rng.uniform(0.5, 2.0, 2).astype(np.float32))],
    "dense": [("kernel", (0.5 * rng.normal(size=(2, 3))).astype(np.float32)), ("bias", (0.1 * rng.normal(size=3)).astype(np.float32))],
}
FUN_LAYERS = ["conv2d", "batch_normalization", "add", "activation", "global_average_pooling2d", "dense"]


def fun_forward(x):
    y = conv_same(x, W3["conv2d"][0][1].astype(np.float64), W3["conv2d"][1][1])
    y = np.maximum(bn(y, W3["batch_normalization"]) + x, 0).mean(axis=(1, 2))
    z = y @ W3["dense"][0][1].astype(np.float64) + W3["dense"][1][1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "tfkeras2_sequential.json"), "w") as f:
    json.dump(k2_seq, f)
with open(os.path.join(OUT, "keras3_functional.json"), "w") as f:
    json.dump(k3_fun, f)

# legacy_h5_format.save_model_to_hdf5: root attrs, then model_weights.
with h5py.File(os.path.join(OUT, "tfkeras2_sequential.h5"), "w") as f:
    f.attrs["backend"] = "tensorflow"
    f.attrs["keras_version"] = "2.15.0"
    f.attrs["model_config"] = json.dumps(k2_seq["class_name"] and {"class_name": "Sequential", "config": k2_seq["config"]}).encode("utf8")
    save_weights_to_hdf5_group(f.create_group("model_weights"), SEQ_LAYERS, W)
with h5py.File(os.path.join(OUT, "tfkeras2_sequential_weights.h5"), "w") as f:
    save_weights_to_hdf5_group(f, SEQ_LAYERS, W)
with h5py.File(os.path.join(OUT, "keras3_functional.weights.h5"), "w") as f:
    save_h5_store(f, FUN_LAYERS, W3)

expected = {"input": x.tolist(), "sequential": seq_forward(x.astype(np.float64)).tolist(),
            "functional": fun_forward(x.astype(np.float64)).tolist()}
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f)
print("wrote", sorted(os.listdir(OUT)))
