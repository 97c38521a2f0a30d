"""Online log-sum-exp of each row of keys, in one pass, rows back to back, valid-only pipeline.

In log2 units rescaling is a shift. Per lane u = key * log2(e) = c - r with c = ceil(u) and r in [0, 1);
2^-r comes from a 64-entry table with linear interpolation. Per beat the running maximum E of the c's (a short
loop of its own) gives each lane's term (2^-r) >> (E - c). Beat b of a row goes to accumulator b mod 3, which does
d <- (d >> (E_b - E_{b-3})) + beat sum: the only wide loop, three stages deep (shift | chunk sums | carry pick).
At the row's end the three accumulators are aligned to E and added, and
lse = ln2 * (E + msb(d) - FD) + ln(mantissa) by a 128-entry table with interpolation, rounded to F bits.
Model: beamstream.hwmodel.numerics.rows_lse; docs/numerics.md has the widths and the error bound.
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .interface import exp2_table, ln_table, lse_widths
from .pipelined_arith import (SumStyle, constant_product_terms, delayed_together, pipelined_sum, registered,
                              sum_latency, variable_product_terms)
from .shifts import shift_left_capped, window


def _leading_one(m, value, name: str):
    """Index of the highest set bit of `value` (0 when value is 0), as a balanced mux tree."""
    def tree(bits):
        if len(bits) == 1:
            return bits[0], Const(0, 1)
        half = 1 << ((len(bits) - 1).bit_length() - 1)
        lo_any, lo_pos = tree(bits[:half])
        hi_any, hi_pos = tree(bits[half:])
        width = (half - 1).bit_length() + 1
        return lo_any | hi_any, Mux(hi_any, Const(half, width) | hi_pos, lo_pos)
    _, pos = tree([value[i] for i in range(len(value))])
    out = Signal(range(len(value)), name=name)
    m.d.comb += out.eq(pos)
    return out


def _rom(values, index):
    width = max(1, max(values).bit_length())
    return Array(Const(v, width) for v in values)[index]


class OnlineLogSumExp(wiring.Component):
    def __init__(self, cfg, *, sums: SumStyle = SumStyle.SHALLOW):
        self.cfg = cfg
        self.sums = sums
        self.widths = w = lse_widths(cfg)
        L, P = cfg.logit_bits, cfg.lanes
        super().__init__({
            "valid": In(1), "first": In(1), "last": In(1),
            "keys": In(data.ArrayLayout(signed(L), P)), "mask": In(P),
            "o_valid": Out(1), "o_lse": Out(signed(32)), "o_neg_inf": Out(1),
        })
        self.sentinel = -(1 << (w.exp_int_bits - 1))   # E of a row without live lanes so far
        # Stage counts of each part; elaborate checks its pipelined sums against them.
        dummy = Signal(8)
        self._lat_u = sum_latency(self._u_terms(Signal(signed(L))), self._u_width)
        self._lat_interp = sum_latency(self._interp_terms(dummy, dummy, Signal(self._exp_lo), dummy),
                                       self._interp_width)
        self._lat_tree = (P - 1).bit_length()
        self._lat_beat = sum_latency([(dummy, 1)] * P, self._beat_width)
        self._lat_combine = sum_latency([(dummy, 1)] * w.acc_ways, w.acc_bits)
        self._lat_ln = sum_latency(self._ln_terms(Signal(self._k_shape), dummy, dummy, Signal(self._ln_lo), dummy),
                                   self._ln_width)
        # u | c, r, tables | max(interp, tree + run max + lane diff) | lane shift | beat sum
        self._lat_lanes = self._lat_u + 1 + max(self._lat_interp, self._lat_tree + 2) + 1 + self._lat_beat
        # loop (shift | chunk sums, pick writes acc) | read and align | combine | msb | normalise | tables | ln
        self.latency = self._lat_lanes + 4 + self._lat_combine + 3 + self._lat_ln

    # Widths and terms of the pipelined sums.
    @property
    def _u_width(self):
        return self.cfg.logit_bits + self.widths.log2e_frac + 2

    def _u_terms(self, key):
        return constant_product_terms(key, self.widths.log2e)

    @property
    def _exp_lo(self):
        return self.widths.u_frac - self.widths.exp_index

    @property
    def _interp_width(self):
        return self.widths.exp_frac + self._exp_lo + 2

    def _interp_terms(self, base, drop, lo, drop3):
        # m = base - floor(drop * lo / 2^lo_bits) = (base * 2^lo_bits + 2^lo_bits - 1 - drop * lo) >> lo_bits
        ones = (1 << self._exp_lo) - 1
        return [(Cat(Const(ones, self._exp_lo), base), 1)] + variable_product_terms(drop, lo, -1, triple=drop3)

    @property
    def _beat_width(self):
        return self.widths.acc_frac + 2 + (self.cfg.lanes - 1).bit_length()

    @property
    def _ln_lo(self):
        return self.widths.mant_frac - self.widths.ln_index

    @property
    def _ln_drop(self):
        return self.widths.ln_frac - self.widths.frac_bits

    @property
    def _ln_width(self):
        return self.widths.exp_int_bits + 3 + self.widths.ln_frac + self._ln_lo

    @property
    def _k_shape(self):
        # K = E + n - FD of a row with a live lane: |E| < 2^(exp_int_bits - 1), n and FD below acc_bits (a -inf row's
        # K is not used). Its width sets the constant product's table count.
        return signed(max(self.widths.exp_int_bits - 1, self.widths.acc_bits.bit_length()) + 2)

    def _ln_terms(self, k_int, base, rise, lo, rise3):
        # (K*ln2 + base + floor(rise*lo / 2^lo) + half) >> drop, all scaled by 2^lo so the floor is one shift
        half = 1 << (self._ln_drop - 1 + self._ln_lo)
        return (constant_product_terms(k_int, self.widths.ln2, self._ln_lo) + [(base << self._ln_lo, 1), (half, 1)]
                + variable_product_terms(rise, lo, triple=rise3))

    def elaborate(self, platform):
        m = Module()
        cfg, w = self.cfg, self.widths
        P, G, K = cfg.lanes, w.u_frac, w.acc_ways
        exp_t = signed(w.exp_int_bits)

        def data(value, name):
            """A register of values read only where a valid flag (which is reset) says so: no reset."""
            return registered(m, value, name, reset_less=True)
        # Stage numbers count registers from the input ports (stage 0).

        # u = key * log2(e) with G fraction bits (floor).
        u = []
        for i in range(P):
            prod, lat = pipelined_sum(m, self._u_terms(self.keys[i]), self._u_width, f"u_prod{i}",
                                       style=self.sums)
            assert lat == self._lat_u
            u.append(prod[w.u_shift:w.u_shift + w.u_bits].as_signed())
        # Flags and values that travel side by side go down one delay line each (delayed_together).
        live = delayed_together(m, [self.mask[i] & (self.keys[i] != cfg.key_neg_inf) for i in range(P)],
                                self._lat_u, "live_u", reset_less=True)

        # c = ceil(u), r = c - u in [0, 1); table entries for 2^-r; each lane's bid for the beat maximum.
        base_t, drop_t = exp2_table(w)
        c, base, drop, drop3, lo, bid = [], [], [], [], [], []
        for i in range(P):
            frac = u[i][:G]
            c_i = u[i][G:].as_signed() + (frac != 0)
            r_i = Signal(G, name=f"r{i}")
            m.d.comb += r_i.eq(-frac)
            idx = r_i[self._exp_lo:]
            c.append(data(c_i, f"c{i}"))
            base.append(data(_rom(base_t, idx), f"exp_base{i}"))
            drop.append(data(_rom(drop_t, idx), f"exp_drop{i}"))
            drop3.append(data(_rom([3 * d for d in drop_t], idx), f"exp_drop3_{i}"))
            lo.append(data(r_i[:self._exp_lo], f"exp_lo{i}"))
            bid.append(data(Mux(live[i], c_i, self.sentinel), f"bid{i}"))
        live = delayed_together(m, live, 1, "live_t", reset_less=True)
        t_tables = self._lat_u + 1

        # m = 2^-r by interpolation (exp_frac fraction bits).
        mant = []
        for i in range(P):
            total, lat = pipelined_sum(m, self._interp_terms(base[i], drop[i], lo[i], drop3[i]), self._interp_width,
                                       f"exp_interp{i}", style=self.sums)
            assert lat == self._lat_interp
            mant.append(total[self._exp_lo:self._exp_lo + w.exp_frac + 1])

        # In parallel: beat maximum (one tree level per stage), running maximum E, lane shifts E - c.
        level = bid
        while len(level) > 1:
            nxt = []
            for j in range(0, len(level), 2):
                pair = level[j:j + 2]
                best = pair[0] if len(pair) == 1 else Mux(pair[0] > pair[1], pair[0], pair[1])
                nxt.append(data(best, f"beat_max_l{len(level)}_{j}"))
            level = nxt
        e_beat = level[0]
        t_beat = t_tables + self._lat_tree
        b_valid, b_first, b_last = delayed_together(m, [self.valid, self.first, self.last], t_beat, "b_flags")

        # Loop state, updated per valid beat: E so far, the beat's way (index mod K), beats seen (saturating at
        # K), and the E each way last saw.
        run_max = Signal(exp_t, name="run_max")
        way_run = Signal(range(K), name="way_run")
        seen_run = Signal(range(K + 1), name="seen_run")
        e_way = Array(Signal(exp_t, name=f"e_way{p}") for p in range(K))
        beat_wins = e_beat > run_max
        e_now = Mux(b_first, e_beat, Mux(beat_wins, e_beat, run_max))
        way_next = Mux(way_run == K - 1, 0, way_run + 1)
        way_now = Mux(b_first, 0, way_next)
        seen_now = Mux(b_first, 1, Mux(seen_run == K, K, seen_run + 1))
        with m.If(b_valid):
            m.d.sync += [run_max.eq(e_now), way_run.eq(way_now), seen_run.eq(seen_now), e_way[way_now].eq(e_now)]
        e_b = data(e_now, "e_b")
        # E_b - E_{b-K}, unused when fresh (so b_first is 0): both differences in parallel with the compare.
        e_before = e_way[way_next]
        rise = data(Mux(beat_wins, e_beat - e_before, run_max - e_before), "rise")
        way = data(way_now, "way")
        fresh = data(b_first | (seen_run < K), "fresh")   # first beat of its way in this row
        seen = data(seen_now, "seen")
        e_valid = registered(m, b_valid, "e_valid")
        e_last = registered(m, b_last, "e_last")
        t_e = t_beat + 1

        # Per lane E - c.
        c_e = delayed_together(m, c, t_e - t_tables, "c_e", reset_less=True)
        lane_diff = delayed_together(m, [e_b - c_e[i] for i in range(P)], 1, "lane_diff", reset_less=True)
        t_diff = t_e + 1
        t_shift_in = t_tables + max(self._lat_interp, t_diff - t_tables)

        # Lane terms: (m << (FD - FM)) >> (E - c), zero for dead lanes and shifts past the term's width.
        terms = []
        mant = delayed_together(m, mant, t_shift_in - t_tables - self._lat_interp, "mant_s", reset_less=True)
        lane_diff = delayed_together(m, lane_diff, t_shift_in - t_diff, "lane_diff_s", reset_less=True)
        live = delayed_together(m, live, t_shift_in - t_tables, "live_s", reset_less=True)
        for i in range(P):
            m_i, d_i, live_i = mant[i], lane_diff[i], live[i]
            scaled = Cat(Const(0, w.acc_frac - w.exp_frac), m_i)
            keep = live_i & (d_i < w.term_shift_max)
            terms.append((data(Mux(keep, scaled >> d_i[:(w.term_shift_max - 1).bit_length()], 0),
                                     f"term{i}"), 1))
        beat_sum, lat = pipelined_sum(m, terms, self._beat_width, "beat_sum", style=self.sums)
        assert lat == self._lat_beat
        t_x = t_shift_in + 1 + self._lat_beat
        assert t_x == self._lat_lanes

        x_valid, x_last, x_way, x_fresh, x_rise, x_e = delayed_together(
            m, [e_valid, e_last, way, fresh, rise, e_b], t_x - t_e, "x")

        # The accumulate loop: read acc[way] and shift | chunk sums | pick, write acc[way].
        acc = Array(Signal(w.acc_bits, name=f"acc{p}") for p in range(K))
        keep = ~x_fresh & (x_rise < w.acc_bits)
        shifted = data(Mux(keep, acc[x_way] >> x_rise[:(w.acc_bits - 1).bit_length()], 0), "acc_shifted")
        beat_in = data(beat_sum, "acc_beat")
        new_acc, lat = pipelined_sum(m, [(shifted, 1), (beat_in, 1)], w.acc_bits + 1, "acc_new",
                                     registered_output=False, style=self.sums)
        assert lat == 1 and w.acc_bits + 1 > 12, "the loop is 3 stages only with a two-stage adder"
        l_valid, l_way = delayed_together(m, [x_valid, x_way], 2, "l")
        with m.If(l_valid):
            m.d.sync += acc[l_way].eq(new_acc)

        # Row end: the cycle after the last beat's write, read the accumulators aligned to the row's E (the next
        # row's first write lands at the end of this cycle at the earliest).
        t_read = t_x + 3
        snap, snap_e = delayed_together(m, [x_valid & x_last, x_e], 3, "snap")
        # Per way, for a row's last beat, the rise from that way's last E to the row's E (taken at t_e).
        way_r = delayed_together(m, [e_b - e_way[p] for p in range(K)] + [seen > p for p in range(K)],
                                 t_read - t_e, "way_r", reset_less=True)
        aligned = []
        for p in range(K):
            rise_p = way_r[p]
            keep_p = way_r[K + p] & (rise_p < w.acc_bits)
            aligned.append((data(Mux(keep_p, acc[p] >> rise_p[:(w.acc_bits - 1).bit_length()], 0),
                                       f"aligned{p}"), 1))
        total, lat = pipelined_sum(m, aligned, w.acc_bits, "acc_total", style=self.sums)
        assert lat == self._lat_combine
        g_valid, g_e = delayed_together(m, [snap, snap_e], 1 + lat, "g")
        total = total.as_unsigned()

        # Normalise: msb position n, then mantissa bits below it.
        n = _leading_one(m, total, "msb")
        h_d, h_n = data(total, "norm_d"), data(n, "norm_n")
        h_valid, h_e = registered(m, g_valid, "norm_valid"), data(g_e, "norm_e")
        top = w.acc_bits - 1
        if self.sums is SumStyle.OPERATOR:
            # Not window's operator spelling: its value, zeros below d, is 70 bits, two words to a simulator.
            lshift = Signal(range(w.acc_bits), name="norm_shift")
            m.d.comb += lshift.eq(top - h_n)
            normal = shift_left_capped(h_d, lshift, w.acc_bits, self.sums)  # the msb lands on `top`: nothing is lost
            below_msb = normal[top - w.mant_frac:top]
        else:
            # The same bits as a mant_frac-bit window at n (zeros below d): a narrow shifter, not a full-width one.
            below_msb = window(Cat(Const(0, w.mant_frac), h_d), h_n, w.mant_frac)
        q = data(below_msb, "mant_q")
        neg_inf = data(h_e == self.sentinel, "neg_inf_n")
        k_int = Signal(self._k_shape, name="k_int", reset_less=True)
        m.d.sync += k_int.eq(h_e + h_n - w.acc_frac)
        i_valid = registered(m, h_valid, "ln_valid")

        # ln: tables, then one pipelined sum; a -inf row feeds zeros so the result is exactly 0.
        lbase_t, lrise_t = ln_table(w)
        idx = q[self._ln_lo:]
        gate = ~neg_inf
        t_base = data(Mux(gate, _rom(lbase_t, idx), 0), "ln_base")
        t_rise = data(Mux(gate, _rom(lrise_t, idx), 0), "ln_rise")
        t_rise3 = data(Mux(gate, _rom([3 * r for r in lrise_t], idx), 0), "ln_rise3")
        t_lo = data(q[:self._ln_lo], "ln_lo")
        t_k = data(Mux(gate, k_int, 0), "ln_k")
        t_valid, t_neg_inf = registered(m, i_valid, "ln_valid_t"), data(neg_inf, "ln_neg_inf_t")
        ln_sum, lat = pipelined_sum(m, self._ln_terms(t_k, t_base, t_rise, t_lo, t_rise3), self._ln_width, "ln_sum",
                                    style=self.sums)
        assert lat == self._lat_ln
        o_valid, o_neg_inf = delayed_together(m, [t_valid, t_neg_inf], lat, "o")
        m.d.comb += [
            self.o_lse.eq(ln_sum >> (self._ln_drop + self._ln_lo)),
            self.o_valid.eq(o_valid),
            self.o_neg_inf.eq(o_neg_inf),
        ]
        return m
