// The MPI tests start mpirun jobs on a 2-core CI machine; running them in parallel would oversubscribe it further.
[assembly: DoNotParallelize]
