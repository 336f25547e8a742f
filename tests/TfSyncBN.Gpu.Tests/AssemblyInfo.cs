// The tests share one CPU accelerator, which is not thread-safe: run them one at a time.
[assembly: DoNotParallelize]
