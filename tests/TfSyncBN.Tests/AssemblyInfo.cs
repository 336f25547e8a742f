// Tests run in parallel by class; each class owns its strategies, so no state is shared.
[assembly: Parallelize(Workers = 0, Scope = ExecutionScope.ClassLevel)]
