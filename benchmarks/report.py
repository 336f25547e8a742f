#!/usr/bin/python3
"""Writes the performance section of BENCHMARKS.md from one run of benchmarks/run.sh.

Inputs (in the run's output folder): bdn/results/*-report-full.json (BenchmarkDotNet), allocations.json (exact bytes
per call), torch.json (the PyTorch peer), meta.json (machine, load, command). The section lies between the markers
below; the rest of BENCHMARKS.md (other teams' sections) is kept byte for byte. benchmarks/analysis.md (the causes of
misses, written by hand after profiling) is included verbatim at the end of the section.
"""
import glob
import json
import os
import sys

BEGIN = "<!-- perf:begin (written by benchmarks/run.sh; edit benchmarks/analysis.md or report.py instead) -->"
END = "<!-- perf:end -->"
MEMORY_BOUND = "128x32x32x64"


def load_bdn(out):
    rows = []
    for path in glob.glob(os.path.join(out, "bdn", "results", "*-report-full.json")):
        data = json.load(open(path))
        for b in data["Benchmarks"]:
            params = dict(kv.split("=", 1) for kv in b["Parameters"].split("&")) if b["Parameters"] else {}
            stats = b.get("Statistics") or {}
            rows.append({"type": b["Type"], "method": b["Method"], "params": params,
                         "ms": stats.get("Median", float("nan")) / 1e6 if stats else float("nan"),
                         "alloc": (b.get("Memory") or {}).get("BytesAllocatedPerOperation")})
    return rows


def find(rows, type_, method, **params):
    for r in rows:
        if r["type"] == type_ and r["method"] == method and all(r["params"].get(k) == str(v) for k, v in params.items()):
            return r
    return None


def fmt(v, digits=3):
    return "n/a" if v is None or v != v else f"{v:.{digits}f}"


def size(b):
    if b is None:
        return "n/a"
    return f"{b / 2**20:.2f} MiB" if b >= 2**20 else f"{b / 1024:.1f} KiB" if b >= 1024 else f"{b} B"


def main(out, target):
    meta = json.load(open(os.path.join(out, "meta.json")))
    rows = load_bdn(out)
    torch = json.load(open(os.path.join(out, "torch.json"))) if os.path.exists(os.path.join(out, "torch.json")) else {"bn": [], "cnn": []}
    allocs = json.load(open(os.path.join(out, "allocations.json"))) if os.path.exists(os.path.join(out, "allocations.json")) else []
    syncstep = json.load(open(os.path.join(out, "syncstep.json"))) if os.path.exists(os.path.join(out, "syncstep.json")) else []
    L = [BEGIN, "## Performance: batch normalization, SyncBN and training, side by side with PyTorch", ""]
    L.append(f"- Machine: {meta['cpu']}, {meta['cores']} cores; {meta['os']}; .NET {meta['dotnet']}; PyTorch {torch.get('torch', 'n/a')}.")
    if meta.get("caches"):
        cpuid = meta.get("cpuid", "")
        # The VM reports only "AMD EPYC" as the model name; the family says which generation it is.
        gen = {"CPU family 25": " (AMD family 19h: Zen 3/Zen 4)", "CPU family 26": " (AMD family 1Ah: Zen 5)"}
        note = next((v for k, v in gen.items() if cpuid.startswith(k + ",") and "AMD" in meta["cpu"]), "")
        L.append(f"- CPU (lscpu): {cpuid}{note}; caches {meta['caches']}.")
    L.append(f"- Run: {meta['started']} to {meta['finished']} (UTC); load average (1/5/15 min) {meta['load_start']} at the start, {meta['load_end']} at the end.")
    L.append(f"- Command: `{meta['command']}` (BenchmarkDotNet 0.14, in-process job: {meta.get('bdn_job', '6 warm-up and 9 measured iterations of ~120 ms')}; "
             f"PyTorch: median of repetitions over {torch.get('measureS', 0.8)} s after {torch.get('warmupS', 0.3)} s warm-up, allocator: {torch.get('allocator', 'glibc malloc, default settings')}).")
    load1 = float(meta["load_start"].split()[0])
    if load1 >= 3 or float(meta["load_end"].split()[0]) >= 3:
        L.append(f"- **Taken under load** (other processes were running on the 2 cores): absolute times are inflated and noisy; the ratios are measured within one run, but still less reliable than on an idle machine.")
    L.append("- Layer calls, SyncBN steps and training steps run in a `TensorScope` (pooled tensor storage), as `Model.TrainStep` does.")
    L.append("- Every time is a median in ms. \"copy\" is the memory-bandwidth reference: a copy of the same tensor split over the same number of threads (dedicated threads), "
             "the faster of ordinary stores (memmove) and non-temporal stores (which the kernels use for outputs of 16 MiB or more), measured in the same run; "
             "\"x copy\" divides by it (ideal training forward ≈ 1.5 copies, forward+backward ≈ 4, inference ≈ 1). \"torch copy\" is PyTorch's `copy_` of the same tensor in its own run, for comparison. "
             "\"vs torch\" is PyTorch's fastest layout (NCHW or channels_last) on the same threads divided by ours (> 1: we are faster).")
    L.append("")

    checks = []

    def copy_ref(type_, p):
        c = find(rows, type_, "CopyTensor", **p)
        nt = find(rows, type_, "CopyTensorNonTemporal", **p)
        cands = [(r["ms"], kind) for r, kind in ((c, "ord"), (nt, "NT")) if r and r["ms"] == r["ms"]]
        return (min(cands), c, nt) if cands else ((None, None), c, nt)

    def layer_table(type_, title, label):
        trows = [r for r in rows if r["type"] == type_]
        if not trows:
            return
        L.append(f"### {title}")
        L.append("")
        extra = " | fwd+bwd x copy / BatchNormalization's" if label else ""
        L.append(f"| shape N×H×W×C | threads | layout | copy (ord / NT) | torch copy | train fwd (x copy) | fwd+bwd (x copy) | inference (x copy) | torch best fwd+bwd | fwd+bwd vs torch | fwd vs torch | inference vs torch | allocated per fwd+bwd{extra} |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---" + ("|---|" if label else "|"))
        shapes = sorted({r["params"].get("Shape") for r in trows}, key=lambda s: (s.split("x")[3] != "64", s))
        for shape in shapes:
            for threads in ("1", "2"):
                tb = [t for t in torch["bn"] if t["shape"] == shape and str(t["threads"]) == threads]
                best = {k: min((t[k] for t in tb), default=None) for k in ("TrainForward", "TrainForwardBackward", "Inference", "Copy")}
                best_fb_layout = min(tb, key=lambda t: t["TrainForwardBackward"])["layout"] if tb else "n/a"
                for layout in ("NHWC", "NCHW"):
                    p = dict(Shape=shape, Layout=layout, Threads=threads)
                    (cm, kind), c, nt = copy_ref(type_, p)
                    f = find(rows, type_, "TrainForward", **p)
                    fb = find(rows, type_, "TrainForwardBackward", **p)
                    inf = find(rows, type_, "Inference", **p)
                    if not (cm and f and fb and inf):
                        continue
                    vs = lambda ours, theirs: (theirs / ours) if theirs else None
                    rel = ""
                    if label:
                        (bcm, _), _, _ = copy_ref("BatchNormBenchmarks", p)
                        bfb = find(rows, "BatchNormBenchmarks", "TrainForwardBackward", **p)
                        rel = f" | {fmt((fb['ms'] / cm) / (bfb['ms'] / bcm), 2) if bfb and bcm else 'n/a'}"
                    L.append(f"| {shape} | {threads} | {layout} | {fmt(cm)} ({fmt(c and c['ms'])} / {fmt(nt and nt['ms'])}) | {fmt(best['Copy'])} | "
                             f"{fmt(f['ms'])} ({fmt(f['ms']/cm, 2)}) | {fmt(fb['ms'])} ({fmt(fb['ms']/cm, 2)}) | "
                             f"{fmt(inf['ms'])} ({fmt(inf['ms']/cm, 2)}) | {fmt(best['TrainForwardBackward'])} ({best_fb_layout}) | "
                             f"{fmt(vs(fb['ms'], best['TrainForwardBackward']), 2)}x | {fmt(vs(f['ms'], best['TrainForward']), 2)}x | {fmt(vs(inf['ms'], best['Inference']), 2)}x | {size(fb['alloc'])}{rel} |")
                    if shape == MEMORY_BOUND:
                        checks.append((f"{label}training forward ≤ 1.7 copies ({shape}, {layout}, {threads} thr)", f["ms"] / cm, 1.7, "le"))
                        checks.append((f"{label}forward+backward ≤ 4.5 copies ({shape}, {layout}, {threads} thr)", fb["ms"] / cm, 4.5, "le"))
                        checks.append((f"{label}inference ≤ 1.2 copies ({shape}, {layout}, {threads} thr)", inf["ms"] / cm, 1.2, "le"))
                    if best["TrainForwardBackward"]:
                        checks.append((f"{label}fwd+bwd ≥ 2x faster than torch's fastest layout ({shape}, {layout}, {threads} thr)",
                                       best["TrainForwardBackward"] / fb["ms"], 2.0, "ge"))
        L.append("")

    # --- BN and SyncBN layer tables (the same cases: one BenchmarkDotNet job) ---
    layer_table("BatchNormBenchmarks", "BatchNormalization layer (training forward, forward+backward, inference)", "")
    if torch["bn"]:
        L.append("PyTorch `BatchNorm2d` (ms; its own copy of the same tensor in the first column):")
        L.append("")
        L.append("| shape | threads | layout | copy | train fwd | fwd+bwd | inference |")
        L.append("|---|---|---|---|---|---|---|")
        for t in torch["bn"]:
            L.append(f"| {t['shape']} | {t['threads']} | {t['layout']} | {fmt(t['Copy'])} | {fmt(t['TrainForward'])} | {fmt(t['TrainForwardBackward'])} | {fmt(t['Inference'])} |")
        L.append("")
    default_malloc = os.path.join(out, "torch-default-malloc.json")
    if os.path.exists(default_malloc):
        dm = json.load(open(default_malloc))
        same = {(t["shape"], str(t["threads"]), t["layout"]): t for t in torch["bn"]}
        L.append("For reference, the same PyTorch peer with glibc's default allocator (every output of 32 MiB or more mmapped and faulted in afresh; "
                 "not used for any ratio): its time, and in parentheses its time divided by the page-reusing run's above.")
        L.append("")
        L.append("| shape | threads | layout | train fwd | fwd+bwd | inference |")
        L.append("|---|---|---|---|---|---|")
        for t in dm["bn"]:
            b = same.get((t["shape"], str(t["threads"]), t["layout"]), {})
            cell = lambda k: f"{fmt(t[k])} ({fmt(t[k] / b[k], 2) if b.get(k) else 'n/a'})"
            L.append(f"| {t['shape']} | {t['threads']} | {t['layout']} | {cell('TrainForward')} | {cell('TrainForwardBackward')} | {cell('Inference')} |")
        for c in dm.get("cnn", []):
            L.append(f"| CNN step (batch 128) | {c['threads']} | {c['layout']} | | {fmt(c['stepMs'], 2)} ({fmt(c['imagesPerSecond'], 0)} images/s) | |")
        L.append("")
    layer_table("SyncBatchNormBenchmarks", "SyncBatchNormalization layer on one replica (outside Run: no communication; same cases)", "SyncBN ")

    # --- SyncBN step ---
    L.append("### SyncBatchNormalization step on R in-process replicas vs local BatchNormalization on the same slices")
    L.append("")
    if syncstep:
        s0 = syncstep[0]
        L.append(f"Global batch 64×32×32×64 NHWC split R ways; one step = one Run of forward + backward on every replica (the strategy's R replica threads, kernels single-threaded). "
                 f"Both variants are `BatchNormalization` built in the same strategy scope, `synchronized: false` (local) and `true` (SyncBN), measured in interleaved batches "
                 f"({s0['batches']} batches of {s0['stepsPerBatch']} steps per variant, alternating which goes first, a full GC before every batch; `syncstep` in `Program.cs`). "
                 "Times are the median [quartiles] of the per-batch ms per step; the ratio is the median [quartiles] of the per-pair ratio. Allocated bytes are counted on each replica's thread.")
        L.append("")
        L.append("| replicas | local BN step | SyncBN step | SyncBN / local | SyncBN / local without GC pauses | gen2 GCs per step (local / sync) | allocated per replica per step (local / sync) | tensor-sized buffers per replica-step |")
        L.append("|---|---|---|---|---|---|---|---|")
        q = lambda d, k=3: f"{fmt(d['median'], k)} [{fmt(d['p25'], k)}, {fmt(d['p75'], k)}]"
        for s in syncstep:
            nogc = q(s["ratioNoGcPause"]) if "ratioNoGcPause" in s else "n/a"
            L.append(f"| {s['replicas']} | {q(s['localMs'])} | {q(s['syncMs'])} | {q(s['ratio'])} | {nogc} | {fmt(s['localGen2PerStep'], 2)} / {fmt(s['syncGen2PerStep'], 2)} | "
                     f"{s['localBytesPerReplicaStep']:,} / {s['syncBytesPerReplicaStep']:,} B | {s['syncBytesPerReplicaStep'] // s['tensorBytesPerReplica']} |")
            checks.append((f"SyncBN step ≤ 1.05 × local BN ({s['replicas']} replicas; median of paired ratios)", s["ratio"]["median"], 1.05, "le"))
    else:
        L.append("(not measured in this run)")
    L.append("")

    # --- all-reduce ---
    L.append("### In-process all-reduce of one layer's statistics (2·64 + 1 float64 values)")
    L.append("")
    L.append("| replicas | µs per all-reduce | allocated per all-reduce |")
    L.append("|---|---|---|")
    for r in ("1", "2", "3", "4"):
        a = find(rows, "AllReduceBenchmarks", "AllReduceStatistics", Replicas=r)
        if a:
            L.append(f"| {r} | {fmt(a['ms'] * 1e3, 2)} | {size(a['alloc'])} |")
    L.append("")

    # --- end to end ---
    L.append("### End to end: the Fashion-MNIST example's CNN, one training step on a batch of 128")
    L.append("")
    L.append("| runner | threads | ms per step | images/s |")
    L.append("|---|---|---|---|")
    ours = {}
    for r in ("1", "2"):
        t = find(rows, "TrainingBenchmarks", "TrainStep", Replicas=r)
        if t:
            ours[r] = 128 / t["ms"] * 1e3
            L.append(f"| TfSyncBN, {r} replica(s){' (single-threaded kernels)' if r == '1' else ' on 2 threads'} | {r} | {fmt(t['ms'], 2)} | {fmt(ours[r], 0)} |")
    tbest = {}
    for c in torch["cnn"]:
        L.append(f"| PyTorch {torch.get('torch', '')}, {c['layout']} | {c['threads']} | {fmt(c['stepMs'], 2)} | {fmt(c['imagesPerSecond'], 0)} |")
        tbest[str(c["threads"])] = max(tbest.get(str(c["threads"]), 0), c["imagesPerSecond"])
    L.append("")
    for th in ("1", "2"):
        if th in ours and th in tbest:
            checks.append((f"CNN images/s ≥ PyTorch's best layout on {th} thread(s)", ours[th] / tbest[th], 1.0, "ge"))
    if "1" in ours and "2" in ours:
        checks.append(("CNN: 2 replicas ≥ 1.7 × 1 replica", ours["2"] / ours["1"], 1.7, "ge"))

    # --- allocations ---
    if allocs:
        L.append("### Bytes allocated per layer call (exact, `GC.GetAllocatedBytesForCurrentThread`, steady state, 1 thread; SyncBN rows on each replica's thread inside a Run)")
        L.append("")
        L.append("Each call runs in a `TensorScope`, as each replica's step does in `Model.TrainStep`, so in steady state its output and "
                 "gradient storage is the previous call's (without a scope every call allocates its output y, and forward+backward also dx). "
                 "Tensor-sized buffers = whole tensors' worth of the bytes; everything else a call allocates is O(C): statistics, the tape record.")
        L.append("")
        L.append("| shape | layout | call | bytes per call | tensor bytes | tensor-sized buffers | other bytes |")
        L.append("|---|---|---|---|---|---|---|")
        for a in allocs:
            n = a.get("tensorSizedBuffers", a["bytesPerCall"] // a["tensorBytes"])
            L.append(f"| {a['shape']} | {a['layout']} | {a['call']} | {a['bytesPerCall']:,} | {a['tensorBytes']:,} | {n} | {a['bytesPerCall'] - n * a['tensorBytes']:,} |")
        L.append("")
        worst = max(allocs, key=lambda a: a.get("tensorSizedBuffers", a["bytesPerCall"] // a["tensorBytes"]))
        checks.append((f"zero managed allocations proportional to tensor size per layer call (most tensor-sized buffers per call: {worst['call']}, {worst['shape']} {worst['layout']})",
                       float(worst.get("tensorSizedBuffers", worst["bytesPerCall"] // worst["tensorBytes"])), 0.0, "le"))

    # --- targets ---
    L.append("### Targets")
    L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for name, value, limit, kind in checks:
        ok = value <= limit if kind == "le" else value >= limit
        if ok or limit < 0.1:
            miss = ""
        else:
            miss = f" (misses by {100 * (value / limit - 1):.0f}%)" if kind == "le" else f" (misses by {100 * (1 - value / limit):.0f}%)"
        L.append(f"| {name} | {fmt(value, 2)} | {'yes' if ok else 'NO' + miss} |")
    L.append("")
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    if os.path.exists(analysis):
        L.append(open(analysis).read().rstrip())
        L.append("")
    L.append(END)
    section = "\n".join(L) + "\n"

    existing = open(target).read() if os.path.exists(target) else "# Benchmarks\n\n"
    marker = "<!-- perf:begin"
    if marker in existing and END in existing:
        head, rest = existing.split(marker, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = existing.rstrip("\n") + "\n\n" + section
    open(target, "w").write(text)
    print(section)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "BENCHMARKS.md")
