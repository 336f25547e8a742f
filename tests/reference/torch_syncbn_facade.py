# Reference numbers for tests/TfSyncBN.Tests/Compat/TorchReferenceTests.cs, from PyTorch 1.13 on the CPU.
# torch.nn.SyncBatchNorm needs a GPU; with one process it computes exactly BatchNorm1d (same defaults, unbiased
# running_var, momentum=None cumulative average), so BatchNorm1d is the single-replica reference here.
# Run: /usr/bin/python3 tests/reference/torch_syncbn_facade.py
import torch

torch.set_printoptions(precision=8)
x1 = torch.tensor([[[0.5, -1.0], [2.0, 3.5], [10.0, 12.0]],
                   [[1.5, 4.0], [-2.0, 0.0], [11.0, 9.0]]], dtype=torch.float64)
x2 = torch.tensor([[[2.0, 2.5], [1.0, -1.0], [8.0, 8.5]],
                   [[-0.5, 3.0], [0.5, 6.0], [13.0, 7.0]],
                   [[1.0, 1.0], [2.0, 2.0], [9.5, 10.5]]], dtype=torch.float64)
x3 = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]], dtype=torch.float64)
w = torch.tensor([[[1.0, -2.0], [0.5, 3.0], [-1.0, 2.0]]], dtype=torch.float64)

for momentum in (0.1, None):
    bn = torch.nn.BatchNorm1d(3, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, -0.5, 2.0]))
        bn.bias.copy_(torch.tensor([0.25, 1.0, -1.0]))
    bn.train()
    bn(x1)
    x = x2.clone().requires_grad_(True)
    y = bn(x)
    (y * w).sum().backward()
    bn.eval()
    z = bn(x3)
    print("momentum", momentum)
    print("y2", y.detach().flatten().tolist())
    print("dx2", x.grad.flatten().tolist())
    print("dweight", bn.weight.grad.tolist())
    print("running_mean", bn.running_mean.tolist())
    print("running_var", bn.running_var.tolist())
    print("num_batches_tracked", int(bn.num_batches_tracked))
    print("eval", z.detach().flatten().tolist())
