"""Where a profiled span of GPU work spends its WALL time: streams, idle gaps, critical path.

Summing each kernel's time (``profile_gpu``'s table) says what the GPU computed, not what
made the step long: the analog update runs its layers' launches on side streams that overlap
the step's stream, so the kernels' sum exceeds the step, and a kernel that overlaps others
costs the step nothing. This module reads the profiler's device events as intervals on
streams and answers what the sum cannot: how long the span was from its first kernel's start
to its last kernel's end, how much of it any kernel (and each stream) was busy, how long the
main stream sat idle while only side streams ran, and which kernels lie on the critical
path - the chain that, shortened, would shorten the span.

The critical path is walked back from the last kernel to end: at each kernel, the one before
it is the kernel (on any stream) that ended last before it started - the work it most likely
waited for (a stream's previous kernel, or an event wait on another stream). The profile
holds no dependencies, so this is a guess: parallel side streams end kernels every microsecond
or so, and the latest end before a side kernel's start is often a sibling stream's, which
would zigzag the path across independent streams. Stream order is the one dependency known
for sure, so a kernel's own stream's previous kernel is taken when it ended within ``slack``
us of the latest end (the path then differs from the latest-end chain by at most ``slack`` a
hop). The time between two kernels of the path, where it runs none, is launch or dependency
latency; a kernel that started late because the host launched it late waited for no kernel,
which shows as such a gap.
Pure functions, no GPU: tests feed them made-up events.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """One device activity (a kernel, a copy or a memset): microseconds, on a stream.
    ``launch``: the correlation id of the host call that launched it - one
    ``cudaGraphLaunch`` for every kernel of a graph replay (0: not known)."""

    name: str
    stream: int
    start: float
    end: float
    launch: int = 0

    @property
    def us(self) -> float:
        return self.end - self.start


def _value(x):
    return x() if callable(x) else x


def spans(events) -> list[Span]:
    """The device events of ``prof.events()`` (torch ``FunctionEvent``s) as Spans, by start.

    A CUDA event has ``time_range.start/end`` (us from the trace's start) and its stream in
    ``device_resource_id`` (torch fills it from Kineto's resource id, the CUPTI stream id).
    A device event's ``id`` is its CUPTI correlation id (``correlation_id()`` on Kineto's).
    Kineto's own events (``start_us()``, ``duration_us()``) and older torch names
    (``start_us``/``duration``, ``stream``) are read too, so a torch upgrade breaks loudly here
    (no device events) rather than quietly elsewhere. CPU events are left out, and so are
    user annotations mirrored onto the GPU timeline (a range over many kernels, not work).
    """
    out = []
    for ev in events:
        kind = getattr(ev, "device_type", None)
        if kind is None or not str(_value(kind)).split(".")[-1].upper().startswith("CUDA"):
            continue
        if getattr(ev, "is_user_annotation", False) is True:
            continue
        window = getattr(ev, "time_range", None)
        if window is not None:
            start, end = float(window.start), float(window.end)
        else:
            start = float(_value(ev.start_us))
            length = getattr(ev, "duration_us", None)
            end = start + float(_value(length if length is not None else ev.duration))
        stream = next((_value(getattr(ev, k)) for k in ("device_resource_id", "stream", "thread")
                       if getattr(ev, k, None) is not None), 0)
        launch = next((_value(getattr(ev, k)) for k in ("correlation_id", "id")
                       if getattr(ev, k, None) is not None), 0)
        if end >= start:
            out.append(Span(str(_value(ev.name)), int(stream), start, end, int(launch)))
    return sorted(out, key=lambda s: (s.start, s.end))


def union(intervals) -> float:
    """Microseconds covered by at least one of ``(start, end)`` intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def idle_gaps(intervals, lo: float, hi: float) -> list[tuple[float, float]]:
    """The stretches of ``[lo, hi]`` that no interval covers, in order (an empty interval
    - a kernel too short for the clock - does not split a gap)."""
    gaps, reach = [], lo
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if start > reach:
            gaps.append((reach, min(start, hi)))
        reach = max(reach, end)
        if reach >= hi:
            break
    if reach < hi:
        gaps.append((reach, hi))
    return [(a, b) for a, b in gaps if b > a]


def critical_path(items: list[Span], slack: float = 2.0) -> list[Span]:
    """The chain of kernels that ends the span, first to last (module docstring: each one's
    predecessor is the kernel that ended last before it started, on any stream, or its own
    stream's previous kernel where that ended within ``slack`` us of it)."""
    if not items:
        return []
    by_end = sorted(items, key=lambda s: (s.end, s.start))
    ends = [s.end for s in by_end]
    mine = defaultdict(list)  # per stream: its kernels' places in by_end, in order
    for k, s in enumerate(by_end):
        mine[s.stream].append(k)
    i = len(by_end) - 1
    path = [by_end[i]]
    while True:
        start, stream = by_end[i].start, mine[by_end[i].stream]
        # the latest end <= this start; strictly earlier in by_end, so the walk ends
        j = min(bisect.bisect_right(ends, start), i) - 1
        if j < 0:
            return path[::-1]
        own = bisect.bisect_left(stream, j + 1) - 1  # this stream's latest place <= j
        if own >= 0 and ends[j] - ends[stream[own]] <= slack:
            j = stream[own]
        i = j
        path.append(by_end[i])


def replays(items: list[Span]) -> list[tuple[float, float, int]]:
    """``(start, end, kernels)`` of each graph replay, by start: the launches that ran more
    than one kernel (a plain launch runs one). Empty where the profiler gave no ids."""
    groups = defaultdict(list)
    for s in items:
        if s.launch:
            groups[s.launch].append(s)
    return sorted((min(s.start for s in g), max(s.end for s in g), len(g))
                  for g in groups.values() if len(g) > 1)


def analyse(items: list[Span], steps: int = 1) -> dict:
    """The wall-time picture of ``items`` (one profiled epoch), every time per step.

    ``steps`` steps ran back to back in the span (a graph replay cannot start before the
    previous one's last kernel, on any stream, has ended), so the span over ``steps`` is a
    step's wall time with the gaps between steps in it. The main stream is the one with the
    most launches (the step's own stream: forward, backward, the digital update).
    """
    if not items:
        return {"steps": steps, "wall": 0.0, "busy": 0.0, "idle": 0.0, "kernel_sum": 0.0,
                "main": None, "main_busy": 0.0, "main_waits": 0.0, "main_gaps": 0.0, "streams": [],
                "path_kernels": 0.0, "path_gaps": 0.0, "path_head": 0.0, "path": [],
                "path_streams": {}, "replays": 0, "replay_kernels": 0.0, "replay_us": None,
                "between_replays": 0.0}
    lo, hi = min(s.start for s in items), max(s.end for s in items)
    per = defaultdict(list)
    for s in items:
        per[s.stream].append(s)
    busy = union((s.start, s.end) for s in items)
    stream_busy = {k: union((s.start, s.end) for s in v) for k, v in per.items()}
    main = max(per, key=lambda k: (len(per[k]), stream_busy[k]))
    path = critical_path(items)
    on_path, counts, path_streams = defaultdict(float), defaultdict(int), defaultdict(float)
    for s in path:
        on_path[s.name] += s.us
        counts[s.name] += 1
        path_streams[s.stream] += s.us
    path_kernels = sum(s.us for s in path)
    names = sorted(on_path, key=on_path.get, reverse=True)
    graphs = replays(items)
    lengths = [end - start for start, end, _ in graphs]
    return {
        "steps": steps, "wall": (hi - lo) / steps, "busy": busy / steps,
        "idle": (hi - lo - busy) / steps, "kernel_sum": sum(s.us for s in items) / steps,
        "main": main, "main_busy": stream_busy[main] / steps,
        "main_waits": (busy - stream_busy[main]) / steps,  # main idle, a side stream busy
        "main_gaps": len(idle_gaps(((s.start, s.end) for s in per[main]), lo, hi)) / steps,
        "streams": [(k, stream_busy[k] / steps, len(per[k]) / steps,
                     sum(s.us for s in per[k]) / steps, path_streams.get(k, 0.0) / steps)
                    for k in sorted(per, key=stream_busy.get, reverse=True)],
        "path_kernels": path_kernels / steps,
        "path_gaps": (path[-1].end - path[0].start - path_kernels) / steps,
        "path_head": (path[0].start - lo) / steps,  # before the path's first kernel
        "path": [(n, on_path[n] / steps, counts[n] / steps) for n in names],
        "path_streams": {k: v / steps for k, v in path_streams.items()},
        # a replay's own span; the rest of the wall is the work and waits between replays
        "replays": len(graphs), "replay_kernels": sum(n for *_, n in graphs) / steps,
        "replay_us": (sum(lengths) / len(lengths), min(lengths), max(lengths)) if graphs
        else None,
        "between_replays": (hi - lo - sum(lengths)) / steps,
    }


def report(a: dict, top: int = 12, width: int = 90, streams: int = 9) -> list[str]:
    """The printed "wall" section of :func:`analyse`'s picture (us a step)."""
    wall = a["wall"] or float("nan")

    def pct(x):
        return f"{100 * x / wall:5.1f}%"

    lines = [
        f"wall {a['wall']:.1f} us/step over {a['steps']} steps (first kernel start to last "
        f"end): any kernel running {a['busy']:.1f} ({pct(a['busy'])}), none {a['idle']:.1f} "
        f"({pct(a['idle'])}); kernels' sum {a['kernel_sum']:.1f} "
        f"= {a['kernel_sum'] / (a['busy'] or float('nan')):.2f}x the busy time (overlap)",
        f"main stream {a['main']} (most launches): busy {a['main_busy']:.1f} "
        f"({pct(a['main_busy'])}), idle while only side streams run {a['main_waits']:.1f} "
        f"({pct(a['main_waits'])}), idle with nothing running {a['idle']:.1f}; "
        f"{a['main_gaps']:.1f} idle gaps/step",
    ]
    if a["replay_us"]:
        mean, least, most = a["replay_us"]
        lines.append(
            f"graph replays: {a['replays']} ({a['replays'] / a['steps']:.2f}/step), each "
            f"{mean:.1f} us first kernel to last ({least:.1f}..{most:.1f}), "
            f"{a['replay_kernels']:.1f} kernels/step in them; outside them "
            f"{a['between_replays']:.1f} us/step (the copies and waits between replays)")
    lines.append(f"{'stream':>8} {'busy us':>9} {'n/step':>7} {'sum us':>9} {'on path':>9}")
    lines += [f"{k:>8} {b:9.1f} {n:7.2f} {s:9.1f} {p:9.1f}"
              for k, b, n, s, p in a["streams"][:streams]]
    if len(a["streams"]) > streams:
        rest = a["streams"][streams:]
        lines.append(f"{f'+{len(rest)}':>8} {sum(r[1] for r in rest):9.1f} "
                     f"{sum(r[2] for r in rest):7.2f} {sum(r[3] for r in rest):9.1f} "
                     f"{sum(r[4] for r in rest):9.1f}")
    lines += [
        f"critical path: {a['path_kernels']:.1f} us/step in kernels ({pct(a['path_kernels'])}), "
        f"{a['path_gaps']:.1f} in gaps between them - launch/dependency latency "
        f"({pct(a['path_gaps'])}), {a['path_head']:.1f} before it",
        f"{'us/step':>9} {'n/step':>7} {'share':>6}  kernel on the critical path",
    ]
    lines += [f"{us:9.1f} {n:7.2f} {pct(us)}  {name[:width]}" for name, us, n in a["path"][:top]]
    return lines
