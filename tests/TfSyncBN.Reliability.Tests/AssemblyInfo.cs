// Classes run in parallel; the ones that measure threads or memory, or flip the process-wide numerics check, are
// [DoNotParallelize] so that nothing else runs beside them.
[assembly: Parallelize(Workers = 0, Scope = ExecutionScope.ClassLevel)]
