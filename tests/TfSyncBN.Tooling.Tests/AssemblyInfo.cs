// The pack test and the notebook test start dotnet processes and share the repository's build outputs: run one at a time.
[assembly: DoNotParallelize]
