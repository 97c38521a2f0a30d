"""The framing FSM alone, in Amaranth's simulator: row/beat counting, pad masks, TLAST checks, config checks, clear."""
import pytest

from conftest import require

require("amaranth")

from amaranth.sim import Simulator  # noqa: E402

from beamstream.hw.interface import CoreConfig  # noqa: E402
from beamstream.hw.unpack import Unpack  # noqa: E402

CFG = CoreConfig(lanes=2, k_max=4, beams_max=3, vocab_max=8, fmt="fp32")


def step_beats(beams, vocab, *, lanes=CFG.lanes, tag=0):
    """(data, last) beats of a well-formed step; data words are numbered so emitted beats can be traced."""
    beats = []
    for b in range(beams):
        beats.append((0x1000 * (tag + 1) + 0x100 * b, False))
        for j in range(-(-vocab // lanes)):
            beats.append((0x1000 * (tag + 1) + 0x100 * b + j + 1, False))
    beats[-1] = (beats[-1][0], True)
    return beats


def simulate(beats, *, vocab, beams, k, clear_at=None, credits=lambda cycle: True, offer_from=0, reconfigure=None):
    """Present `beats` back to back from cycle `offer_from`; return per-cycle records of what Unpack emitted.

    reconfigure = (cycle, vocab, beams, k): a register write that lands at that cycle (with its `config_written`).
    """
    dut = Unpack(CFG)
    out = {"beats": [], "headers": [], "framing": 0, "config": 0, "starts": 0, "taken": 0}

    async def testbench(ctx):
        ctx.set(dut.vocab, vocab)
        ctx.set(dut.beams, beams)
        ctx.set(dut.k, k)
        ctx.set(dut.datapath_empty, 1)
        index, cycle = 0, 0
        while cycle < 4 * len(beats) + 10:
            ok = credits(cycle)
            ctx.set(dut.row_credit, ok)
            ctx.set(dut.step_credit, ok)
            ctx.set(dut.clear, cycle == clear_at)
            written = reconfigure is not None and cycle == reconfigure[0]
            if written:
                ctx.set(dut.vocab, reconfigure[1])
                ctx.set(dut.beams, reconfigure[2])
                ctx.set(dut.k, reconfigure[3])
            ctx.set(dut.config_written, written)
            if offer_from <= cycle and index < len(beats):
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.p.data, beats[index][0])
                ctx.set(dut.i.p.last, beats[index][1])
            else:
                ctx.set(dut.i.valid, 0)
            *_, taken, start = await ctx.tick().sample(dut.i.valid & dut.i.ready,
                                                         dut.step_start)
            out["starts"] += start
            if taken:
                index += 1
                out["taken"] += 1
            cycle += 1
            if ctx.get(dut.beat_valid):
                b = ctx.get(dut.beat)
                out["beats"].append(dict(data=ctx.get(dut.beat.lanes), mask=b.mask, base=b.base, beam=b.beam,
                                         first=b.first, last=b.last, step_last=b.step_last, drop=b.drop))
            if ctx.get(dut.header_valid):
                out["headers"].append(ctx.get(dut.header_score))
            out["framing"] += ctx.get(dut.framing_error)
            out["config"] += ctx.get(dut.config_error)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return out


def test_rows_counted_from_vocab_with_pad_lanes_masked():
    out = simulate(step_beats(2, 5) + step_beats(2, 5, tag=1), vocab=5, beams=2, k=3)
    assert out["taken"] == 16 and out["framing"] == 0 and out["config"] == 0 and out["starts"] == 2
    assert out["headers"] == [0x1000, 0x1100, 0x2000, 0x2100]
    beats = out["beats"]
    assert [b["base"] for b in beats] == [0, 2, 4] * 4
    assert [b["mask"] for b in beats] == [0b11, 0b11, 0b01] * 4
    assert [b["beam"] for b in beats] == [0, 0, 0, 1, 1, 1] * 2
    assert [(b["first"], b["last"]) for b in beats] == [(1, 0), (0, 0), (0, 1)] * 4
    assert [b["step_last"] for b in beats] == [0] * 5 + [1] + [0] * 5 + [1]
    assert not any(b["drop"] for b in beats)


def test_early_tlast_closes_and_drops_the_step_then_the_next_step_is_clean():
    bad = step_beats(2, 5)[:5]
    bad[-1] = (bad[-1][0], True)          # TLAST on row 1's first data beat
    out = simulate(bad + step_beats(2, 5, tag=1), vocab=5, beams=2, k=3)
    assert out["framing"] == 1
    closing = out["beats"][3]
    assert closing["last"] and closing["step_last"] and closing["drop"]
    good = out["beats"][4:]
    assert [b["data"] for b in good] == [0x2001, 0x2002, 0x2003, 0x2101, 0x2102, 0x2103]
    assert not any(b["drop"] for b in good) and good[-1]["step_last"]


def test_tlast_on_a_header_closes_the_step_with_an_empty_row():
    bad = step_beats(2, 5)[:4] + [(0x1100, True)]
    out = simulate(bad + step_beats(2, 5, tag=1), vocab=5, beams=2, k=1)
    assert out["framing"] == 1
    closing = out["beats"][3]
    assert closing["mask"] == 0 and closing["step_last"] and closing["drop"]
    assert len(out["beats"]) == 4 + 6 and not any(b["drop"] for b in out["beats"][4:])


def test_late_tlast_drops_the_step_and_resynchronises_at_the_next_tlast():
    long_step = step_beats(1, 3)
    long_step[-1] = (long_step[-1][0], False)
    long_step += [(0xdead, False), (0xbeef, True)]
    out = simulate(long_step + step_beats(1, 3, tag=1), vocab=3, beams=1, k=2)
    assert out["framing"] == 1 and out["taken"] == len(long_step) + 3
    assert out["beats"][1]["step_last"] and out["beats"][1]["drop"]
    assert [b["data"] for b in out["beats"][2:]] == [0x2001, 0x2002]


@pytest.mark.parametrize("vocab,beams,k", [(0, 1, 1), (9, 1, 1), (4, 0, 1), (4, 4, 1), (4, 1, 0), (4, 1, 5),
                                           (2, 1, 3)])
def test_invalid_config_drains_the_step_without_output(vocab, beams, k):
    beats = step_beats(max(beams, 1), max(min(vocab, 8), 1))
    out = simulate(beats, vocab=vocab, beams=beams, k=k)
    assert out["config"] == 1 and out["taken"] == len(beats)
    assert out["beats"] == [] and out["headers"] == [] and out["starts"] == 0


def test_k_at_the_limit_of_beams_times_vocab_is_valid():
    out = simulate(step_beats(2, 1), vocab=1, beams=2, k=2)
    assert out["config"] == 0 and out["framing"] == 0 and len(out["beats"]) == 2


@pytest.mark.parametrize("bad_before", [True, False])
def test_a_step_offered_as_the_registers_change_runs_with_the_new_values(bad_before):
    """The config check is a registered copy: a step whose header comes on the cycle a write lands waits a cycle,
    then starts with the check of the new values (no config error after an invalid one, an error after a valid
    one)."""
    good, bad = (3, 2, 2), (0, 2, 2)
    before, after = (bad, good) if bad_before else (good, bad)
    beats = step_beats(2, 3)
    out = simulate(beats, vocab=before[0], beams=before[1], k=before[2], offer_from=5, reconfigure=(5, *after))
    if bad_before:
        assert out["config"] == 0 and out["starts"] == 1 and len(out["beats"]) == 4
    else:
        assert out["config"] == 1 and out["starts"] == 0 and out["beats"] == []


def test_clear_mid_step_drains_the_rest_silently():
    out = simulate(step_beats(2, 5) + step_beats(2, 5, tag=1), vocab=5, beams=2, k=1, clear_at=4)
    assert out["framing"] == 0 and out["config"] == 0
    tail = [b["data"] for b in out["beats"]][-7:]
    assert tail == [0x1002, 0x2001, 0x2002, 0x2003, 0x2101, 0x2102, 0x2103]


def test_row_and_step_ends_wait_for_credits():
    beats = step_beats(2, 4)
    out = simulate(beats, vocab=4, beams=2, k=1, credits=lambda cycle: cycle % 5 == 4)
    assert out["taken"] == len(beats) and out["framing"] == 0
    assert [b["last"] for b in out["beats"]] == [0, 1, 0, 1]


@pytest.mark.parametrize("k_max,beams_max,vocab_max", [(4, 3, 8), (16, 8, 1 << 18), (64, 8, 1 << 18), (255, 255, 300)])
def test_config_check_matches_the_documented_rule(k_max, beams_max, vocab_max):
    """1 <= V <= VOCAB_MAX, 1 <= B <= BEAMS_MAX, 1 <= K <= K_MAX, K <= B*V, for 32-bit register values: edges, high
    bits that a narrowed compare or product must not alias away, and random words."""
    import random
    cfg = CoreConfig(lanes=1, k_max=k_max, beams_max=beams_max, vocab_max=vocab_max, fmt="fp32")
    dut = Unpack(cfg)
    rng = random.Random(13)
    edges = {0, 1, 2, 3, k_max - 1, k_max, k_max + 1, beams_max, beams_max + 1, vocab_max, vocab_max + 1,
             255, 256, 257, 1 << 8 | 1, 1 << 16 | 2, 1 << 31 | 1, (1 << 32) - 1}
    small = sorted(x for x in edges if 0 <= x < 1 << 32)
    cases = [(v, b, k) for v in small for b in small for k in small]
    cases += [(rng.randrange(k_max + 2), rng.randrange(beams_max + 2), rng.randrange(k_max + 2)) for _ in range(300)]
    cases += [(rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32)) for _ in range(100)]

    def expected(v, b, k):
        return 1 <= v <= vocab_max and 1 <= b <= beams_max and 1 <= k <= k_max and k <= b * v

    got = []

    async def testbench(ctx):
        for v, b, k in cases:
            ctx.set(dut.vocab, v)
            ctx.set(dut.beams, b)
            ctx.set(dut.k, k)
            got.append(bool(ctx.get(dut.config_ok())))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    wrong = [(case, g) for case, g in zip(cases, got) if g != expected(*case)]
    assert not wrong, wrong[:5]
    assert any(got) and not all(got)
