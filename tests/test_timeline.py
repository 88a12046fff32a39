"""benchmarks/timeline: a profiled span's wall time, streams and critical path, on made-up
device events (no GPU): the numbers profile_gpu's "wall" section prints."""

from types import SimpleNamespace

import pytest
from torch.autograd import DeviceType
from torch.autograd.profiler_util import FunctionEvent

from benchmarks import profile_gpu, timeline
from benchmarks.timeline import Span


def kernel(name, stream, start, end):
    return Span(name, stream, float(start), float(end))


def test_spans_reads_torch_function_events_and_leaves_cpu_events_out():
    events = [
        FunctionEvent(1, "gemm", 7, 10.0, 30.0, device_type=DeviceType.CUDA,
                      device_resource_id=7),
        FunctionEvent(2, "aten::mm", 1, 0.0, 40.0),  # a CPU op: not device time
        FunctionEvent(1, "_drawn_counts_kernel", 7, 5.0, 25.0, device_type=DeviceType.CUDA,
                      device_resource_id=21),
    ]
    # one correlation id (1): the two kernels of one graph replay
    assert timeline.spans(events) == [Span("_drawn_counts_kernel", 21, 5.0, 25.0, 1),
                                      Span("gemm", 7, 10.0, 30.0, 1)]


def test_spans_reads_kineto_style_events_start_and_duration():
    # Kineto's events: methods, not attributes; a stream under another name
    ev = SimpleNamespace(device_type=lambda: "DeviceType.CUDA", name=lambda: "k",
                         start_us=lambda: 100, duration_us=lambda: 8, stream=3)
    old = SimpleNamespace(device_type="CUDA", name="c", start_us=4.0, duration=2.0, thread=9)
    assert timeline.spans([ev, old]) == [kernel("c", 9, 4, 6), kernel("k", 3, 100, 108)]


def test_union_and_gaps_of_overlapping_intervals():
    intervals = [(0, 10), (5, 12), (20, 25), (21, 22), (30, 30)]
    assert timeline.union(intervals) == 17
    assert timeline.idle_gaps(intervals, 0, 40) == [(12, 20), (25, 40)]
    assert timeline.idle_gaps([], 0, 5) == [(0, 5)]


def test_two_overlapping_streams_busy_time_is_their_union_not_their_sum():
    items = [kernel("main_a", 1, 0, 40), kernel("side", 2, 10, 50),
             kernel("main_b", 1, 60, 100)]
    a = timeline.analyse(items, steps=1)
    assert a["wall"] == 100 and a["busy"] == 90 and a["idle"] == 10
    assert a["kernel_sum"] == 120  # 1.33x the busy time: what the old table summed
    assert a["main"] == 1 and a["main_busy"] == 80
    assert a["main_waits"] == 10  # 40..50: only the side stream runs
    assert [s[:2] for s in a["streams"]] == [(1, 80.0), (2, 40.0)]


def test_the_critical_path_follows_a_chain_across_streams_and_counts_its_gaps():
    # main: a (0-10); side streams 2 and 3 fork after a; b on 2 ends last, so the join
    # kernel c on main (after a 5 us wait) waits for b, not for the shorter d
    items = [kernel("a", 1, 0, 10), kernel("b", 2, 12, 50), kernel("d", 3, 11, 30),
             kernel("c", 1, 55, 70), kernel("e", 2, 60, 65)]
    path = timeline.critical_path(items)
    assert [s.name for s in path] == ["a", "b", "c"]
    a = timeline.analyse(items, steps=1)
    assert a["path_kernels"] == 10 + 38 + 15 and a["path_gaps"] == 2 + 5
    assert a["path_kernels"] + a["path_gaps"] + a["path_head"] == a["wall"]
    assert [n for n, _, _ in a["path"]] == ["b", "c", "a"]
    assert a["path_streams"] == {1: 25.0, 2: 38.0}


def test_per_step_numbers_divide_by_the_steps_and_sum_names_along_the_path():
    # each step: a copy launched alone (id 10 + step), then a replay of 3 kernels (id step)
    one = [Span("copy", 1, 0, 2, 10), Span("fwd", 1, 3, 10, 1), Span("upd", 2, 11, 30, 1),
           Span("loss", 1, 31, 35, 1)]
    items = one + [Span(s.name, s.stream, s.start + 40, s.end + 40, s.launch + 1) for s in one]
    a = timeline.analyse(items, steps=2)
    assert a["wall"] == 37.5  # 75 us over 2 steps, the 5 us between them included
    assert timeline.replays(items) == [(3, 35, 3), (43, 75, 3)]
    assert a["replays"] == 2 and a["replay_us"] == (32, 32, 32) and a["replay_kernels"] == 3
    assert a["between_replays"] == (75 - 64) / 2
    assert any(line.startswith("graph replays: 2 (1.00/step), each 32.0 us")
               for line in timeline.report(a))
    assert dict((n, (us, k)) for n, us, k in a["path"]) == {
        "upd": (19.0, 1.0), "fwd": (7.0, 1.0), "loss": (4.0, 1.0), "copy": (2.0, 1.0)}
    assert a["path_gaps"] == pytest.approx((1 + 1 + 1 + 5 + 1 + 1 + 1) / 2)


def test_zero_length_and_simultaneous_kernels_end_the_walk():
    items = [kernel("m", 1, 5, 5), kernel("n", 2, 5, 5), kernel("o", 1, 0, 5)]
    path = timeline.critical_path(items)
    assert path[0].name == "o" and len(path) == 3
    assert timeline.critical_path([]) == []


def test_the_report_prints_the_wall_section_and_an_empty_profile():
    items = [kernel("a", 1, 0, 10), kernel("b", 2, 12, 50), kernel("c", 1, 55, 70)]
    items += [kernel(f"s{k}", 10 + k, 0, 1) for k in range(10)]  # more streams than shown
    lines = timeline.report(timeline.analyse(items, steps=1), top=2, streams=9)
    assert lines[0].startswith("wall 70.0 us/step over 1 steps")
    assert sum(line.split()[0] == "+3" for line in lines) == 1  # the streams past the ninth
    assert lines[-2].split()[0] == "38.0" and lines[-2].endswith("b")
    assert len(timeline.report(timeline.analyse([]))) > 2


def test_trace_files_are_one_per_row():
    assert profile_gpu.trace_path(None, "sgd", 128, 2) is None
    assert profile_gpu.trace_path("out/t.json", "sgd", 128, 1) == "out/t.json"
    assert profile_gpu.trace_path("out/t.json.gz", "sgd", 128, 2) == "out/t-sgd-128.json.gz"



def test_profile_gpu_prints_the_wall_section_after_the_kernel_table(monkeypatch, capsys):
    # profile() needs a GPU; its result as it would come back, to check main's printing
    items = [Span("a", 1, 0, 10, 5), Span("b", 2, 12, 50, 5), Span("c", 1, 55, 70, 5)]
    seen = []

    def fake_profile(device, batch, top, extra=(), width=90, data=(), trace=None):
        seen.append(trace)
        return {"graphs": True, "step_us": 63.0, "launches": 3.0,
                "top": [("b", 38.0, 1.0, 0.6)], "unprofiled_us": 60.0,
                "wall": timeline.analyse(items) if device == "sgd" else ValueError("x")}

    monkeypatch.setattr(profile_gpu, "profile", fake_profile)
    monkeypatch.setattr("sys.argv", ["profile_gpu", "--devices", "sgd,chopped", "--batches",
                                     "128", "--trace", "t.json"])
    profile_gpu.main()
    out = capsys.readouterr().out
    assert seen == ["t-sgd-128.json", "t-chopped-128.json"]
    assert "-- wall (unprofiled epoch: 60.0 us/step; trace t-sgd-128.json)" in out
    assert "critical path: 63.0 us/step in kernels" in out
    assert "failed: ValueError('x')" in out  # a broken wall section keeps the table


def test_parallel_side_streams_keep_their_own_chain_within_the_slack():
    # two independent streams; stream 2's B ends just after stream 3's B, before C3 starts
    items = [kernel("A2", 2, 0, 10), kernel("B2", 2, 10.5, 21.5), kernel("C2", 2, 22.5, 30),
             kernel("A3", 3, 0, 10.6), kernel("B3", 3, 11, 21), kernel("C3", 3, 22, 32)]
    assert [s.name for s in timeline.critical_path(items)] == ["A3", "B3", "C3"]
    # slack 0: the bare latest-end rule zigzags onto stream 2
    assert [s.name for s in timeline.critical_path(items, slack=0)] == ["A2", "B2", "C3"]
