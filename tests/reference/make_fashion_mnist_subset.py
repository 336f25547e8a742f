"""Cuts data/fashion-mnist-subset/ from the full Fashion-MNIST IDX files (Debian dataset-fashion-mnist).

Keeps, in the original order, the first 800 training images of each class (8,000 images) and the first 200 test
images of each class (2,000 images), and writes them as gzipped IDX files with the original names.
Run: /usr/bin/python3 tests/reference/make_fashion_mnist_subset.py [SRC_DIR] [DST_DIR]
"""
import gzip, struct, sys
import numpy as np

src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
dst = sys.argv[2] if len(sys.argv) > 2 else "data/fashion-mnist-subset"

def read(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)

def write(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    # mtime=0 keeps the output byte-identical from run to run.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())

for split, per_class in (("train", 800), ("t10k", 200)):
    images = read(f"{src}/{split}-images-idx3-ubyte.gz")
    labels = read(f"{src}/{split}-labels-idx1-ubyte.gz")
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)]))
    write(f"{dst}/{split}-images-idx3-ubyte.gz", images[keep])
    write(f"{dst}/{split}-labels-idx1-ubyte.gz", labels[keep])
    print(split, len(keep), np.bincount(labels[keep]))
