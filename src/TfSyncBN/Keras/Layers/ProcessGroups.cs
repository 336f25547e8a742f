using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Validation of process groups (a partition of the replica ids) and the slot each replica uses.</summary>
internal static class ProcessGroups
{
    /// <summary>
    /// Checks that every group is non-empty, every id is non-negative, and no id appears twice; with
    /// <paramref name="numReplicas"/> also that every id is below it and every replica is in a group.
    /// </summary>
    /// <exception cref="ArgumentException">A rule is broken; the message names the offending group or id.</exception>
    public static int[][] Validate(IReadOnlyList<IReadOnlyList<int>> groups, int? numReplicas, string paramName)
    {
        ArgumentNullException.ThrowIfNull(groups, paramName);
        if (groups.Count == 0) throw new ArgumentException("process groups must hold at least one group.", paramName);
        var seen = new Dictionary<int, int>();
        var result = new int[groups.Count][];
        for (int g = 0; g < groups.Count; g++)
        {
            var group = groups[g] ?? throw new ArgumentException($"process group {g} is null.", paramName);
            if (group.Count == 0) throw new ArgumentException($"process group {g} is empty; every group needs at least one replica id.", paramName);
            foreach (int id in group)
            {
                if (id < 0)
                    throw new ArgumentException($"replica id {id} in process group {g} is negative; ids lie in [0, NumReplicasInSync).", paramName);
                if (numReplicas is { } r && id >= r)
                    throw new ArgumentException($"replica id {id} in process group {g} is outside [0, {r}) (the strategy has {r} replicas in sync).", paramName);
                if (!seen.TryAdd(id, g))
                    throw new ArgumentException($"replica id {id} is in process groups {seen[id]} and {g}; every replica must belong to exactly one group.", paramName);
            }
            result[g] = [.. group];
        }
        if (numReplicas is { } n)
        {
            for (int id = 0; id < n; id++)
            {
                if (!seen.ContainsKey(id))
                    throw new ArgumentException($"replica id {id} is in no process group; every replica of the {n} in sync must belong to exactly one group.", paramName);
            }
        }
        return result;
    }

    /// <summary>
    /// The construction-time check: the partition rules, plus the id range and coverage when built inside the scope of a
    /// strategy with more than one replica (outside it the replica count is not known yet; the call checks it).
    /// </summary>
    /// <exception cref="ArgumentException">A rule is broken; the message names the offending group or id.</exception>
    public static int[][] ValidateAtConstruction(IReadOnlyList<IReadOnlyList<int>> groups, string paramName)
    {
        int replicas = Distribute.Strategy.Current.NumReplicasInSync;
        return Validate(groups, replicas > 1 ? replicas : null, paramName);
    }

    /// <summary>Renders groups as <c>[[0, 1], [2, 3]]</c> for messages.</summary>
    public static string Describe(IReadOnlyList<IReadOnlyList<int>> groups) =>
        "[" + string.Join(", ", groups.Select(g => Tensor.ShapeString(g.ToArray()))) + "]";
}
