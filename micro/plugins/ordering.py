"""Plugin layer: the order plugins run in, from the user's list and their constraints.

Pure functions over names: no entry points, no imports of plugins. The registry
(:mod:`micro.plugins.registry`) turns a :class:`CycleError` into a PluginError that
names the plugins' distributions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from micro.errors import MicroError

__all__ = ["CycleError", "resolve_order"]


class CycleError(MicroError):
    """The constraints form a cycle; ``cycle`` lists it, first name repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


def resolve_order(
    requested: Sequence[str], constraints: Mapping[str, tuple[Sequence[str], Sequence[str]]]
) -> list[str]:
    """Order ``requested`` under ``constraints[name] = (before, after)``.

    A stable topological sort: Kahn's algorithm that always takes, among the
    plugins free to go next, the one that lets the user's earliest-listed plugin
    come soonest. Each plugin's priority is the smallest list position among
    itself and every plugin that must follow it, so a plugin that has to precede
    ``a`` inherits ``a``'s place: ``[a, b]`` with "c before a" gives ``[c, a, b]``,
    not ``[b, c, a]``. With no constraints the result is the user's list;
    constraints on names not requested are ignored. Raises :class:`CycleError`
    when the constraints cannot all hold.
    """
    index = {name: i for i, name in enumerate(requested)}
    successors: dict[str, set[str]] = {name: set() for name in requested}
    for name in requested:
        before, after = constraints.get(name, ((), ()))
        successors[name].update(b for b in before if b in index and b != name)
        for a in after:
            if a in index and a != name:
                successors[a].add(name)
    indegree = {name: 0 for name in requested}
    for targets in successors.values():
        for target in targets:
            indegree[target] += 1
    priority = {name: (_earliest(name, successors, index), index[name]) for name in requested}
    order: list[str] = []
    ready = [name for name in requested if indegree[name] == 0]
    while ready:
        ready.sort(key=priority.__getitem__)  # PERF: a handful of plugins; clarity first
        name = ready.pop(0)
        order.append(name)
        for target in successors[name]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    if len(order) < len(requested):
        left = [name for name in requested if indegree[name] > 0]
        raise CycleError(_find_cycle(left, successors))
    return order


def _earliest(name: str, successors: Mapping[str, set[str]], index: Mapping[str, int]) -> int:
    """The smallest list position among ``name`` and everything that must follow it."""
    seen = {name}
    stack = [name]
    while stack:
        for target in successors[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return min(index[n] for n in seen)


def _find_cycle(nodes: list[str], successors: Mapping[str, set[str]]) -> list[str]:
    """One cycle among ``nodes`` (each of which has an unresolved predecessor)."""
    allowed = set(nodes)
    path: list[str] = []
    node = nodes[0]
    # Every remaining node has a predecessor among the remaining ones, so walking
    # predecessors must revisit a node within len(nodes) steps.
    predecessors = {n: sorted(p for p in allowed if n in successors[p]) for n in nodes}
    while node not in path:
        path.append(node)
        node = predecessors[node][0]
    cycle = path[path.index(node) :]
    cycle.reverse()
    start = cycle.index(min(cycle, key=nodes.index))  # begin with the first one listed
    cycle = cycle[start:] + cycle[:start]
    return [*cycle, cycle[0]]
