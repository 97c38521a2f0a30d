// The Verilated beamstream_top (inside beamstream_device, device_top.v) as a device: AXI-Lite register access
// and one DMA-shaped call per step.
//
// The whole clock loop runs here, so Python pays one ctypes call per step, never one per cycle. Built into a
// shared library by beamstream.transports.verilated with BS_BEAT_BYTES = s_axis beat width in bytes.
// Each cycle: drive inputs, evaluate with clk low (combinational outputs settle, handshakes are sampled),
// then raise clk (registers update). Two evals per cycle.
#include "Vbeamstream_device.h"
#include "verilated.h"

#include <cstdint>
#include <cstring>

#ifndef BS_BEAT_BYTES
#error "BS_BEAT_BYTES (s_axis beat width in bytes) must be defined by the build"
#endif

namespace {

constexpr uint64_t kRegTimeout = 1000;  // cycles an AXI-Lite access may take before it counts as hung
constexpr int kResetCycles = 8;

struct Device {
    VerilatedContext context;
    Vbeamstream_device top{&context, "beamstream_device"};
    uint64_t cycles = 0;  // clock edges since the device was opened
};

// Copy n little-endian bytes into a port of any Verilated width (CData .. QData, or VlWide<N>).
template <typename T>
void put_bytes(T& port, const uint8_t* src, size_t n) {
    if constexpr (VlIsVlWide<T>::value) {
        std::memset(port.data(), 0, sizeof(port));
        std::memcpy(port.data(), src, n);
    } else {
        T value = 0;
        std::memcpy(&value, src, n < sizeof(T) ? n : sizeof(T));
        port = value;
    }
}

// TKEEP with one bit per byte of the beat: the DMA keeps it full.
struct FullKeep {
    uint8_t bytes[(BS_BEAT_BYTES + 7) / 8] = {};
    FullKeep() {
        for (int i = 0; i < BS_BEAT_BYTES; i++) bytes[i / 8] |= uint8_t(1u << (i % 8));
    }
};
const FullKeep kFullKeep;

inline void clock_low(Device& d) {
    d.top.clk = 0;
    d.top.eval();
}

inline void clock_high(Device& d) {
    d.top.clk = 1;
    d.top.eval();
    d.cycles++;
}

void idle_inputs(Vbeamstream_device& t) {
    t.s_axis_tvalid = 0;
    t.s_axis_tlast = 0;
    t.m_axis_tready = 0;
    t.s_axi_lite_awvalid = 0;
    t.s_axi_lite_wvalid = 0;
    t.s_axi_lite_bready = 0;
    t.s_axi_lite_arvalid = 0;
    t.s_axi_lite_rready = 0;
    t.s_axi_lite_awprot = 0;
    t.s_axi_lite_arprot = 0;
    t.s_axi_lite_wstrb = 0xF;
    put_bytes(t.s_axis_tkeep, kFullKeep.bytes, sizeof(kFullKeep.bytes));
}

}  // namespace

extern "C" {

int bs_beat_bytes() { return BS_BEAT_BYTES; }

void bs_reset(Device* d) {
    idle_inputs(d->top);
    d->top.rst_in = 1;
    for (int i = 0; i < kResetCycles; i++) {
        clock_low(*d);
        clock_high(*d);
    }
    d->top.rst_in = 0;
    clock_low(*d);
    clock_high(*d);  // the registered reset drops one cycle later
    clock_low(*d);
}

Device* bs_open() {
    Device* d = new Device;
    bs_reset(d);
    return d;
}

void bs_close(Device* d) {
    d->top.final();
    delete d;
}

uint64_t bs_cycles(const Device* d) { return d->cycles; }

// AXI-Lite write; returns BRESP (0 = OKAY) or -1 if the core did not answer within kRegTimeout cycles.
int bs_write(Device* d, uint32_t addr, uint32_t data) {
    auto& t = d->top;
    t.s_axi_lite_awaddr = addr;
    t.s_axi_lite_awvalid = 1;
    t.s_axi_lite_wdata = data;
    t.s_axi_lite_wstrb = 0xF;
    t.s_axi_lite_wvalid = 1;
    t.s_axi_lite_bready = 1;
    int resp = -1;
    for (uint64_t i = 0; i < kRegTimeout && resp < 0; i++) {
        clock_low(*d);
        bool aw = t.s_axi_lite_awvalid && t.s_axi_lite_awready;
        bool w = t.s_axi_lite_wvalid && t.s_axi_lite_wready;
        bool b = t.s_axi_lite_bvalid;
        if (b) resp = t.s_axi_lite_bresp;
        clock_high(*d);
        if (aw) t.s_axi_lite_awvalid = 0;
        if (w) t.s_axi_lite_wvalid = 0;
    }
    idle_inputs(t);
    return resp;
}

// AXI-Lite read into *value; returns RRESP (0 = OKAY) or -1 on timeout.
int bs_read(Device* d, uint32_t addr, uint32_t* value) {
    auto& t = d->top;
    t.s_axi_lite_araddr = addr;
    t.s_axi_lite_arvalid = 1;
    t.s_axi_lite_rready = 1;
    int resp = -1;
    for (uint64_t i = 0; i < kRegTimeout && resp < 0; i++) {
        clock_low(*d);
        bool ar = t.s_axi_lite_arvalid && t.s_axi_lite_arready;
        if (t.s_axi_lite_rvalid) {
            *value = t.s_axi_lite_rdata;
            resp = t.s_axi_lite_rresp;
        }
        clock_high(*d);
        if (ar) t.s_axi_lite_arvalid = 0;
    }
    idle_inputs(t);
    return resp;
}

// One DMA-shaped step: stream send_bytes (whole beats, TLAST on the last, as PYNQ's DMA does) into s_axis while
// collecting 64-bit m_axis beats into recv (up to recv_bytes) until the result beat with TLAST has arrived and
// every input beat is in. Stops early when recv is full, or after idle_limit cycles without any handshake
// (a step the core rejected produces no results). report[0..3] = beats sent, beats received, TLAST seen,
// cycles run.
void bs_run_step(Device* d, const uint8_t* send, uint64_t send_bytes, uint8_t* recv, uint64_t recv_bytes,
                 uint64_t idle_limit, uint64_t* report) {
    auto& t = d->top;
    const uint64_t n_in = send_bytes / BS_BEAT_BYTES;
    const uint64_t n_out = recv_bytes / 8;
    const uint64_t start = d->cycles;
    uint64_t sent = 0, received = 0, idle = 0;
    bool got_last = false;
    bool loaded = false;  // s_axis_tdata holds beat `sent`
    t.m_axis_tready = n_out > 0;
    while (true) {
        if (sent < n_in && !loaded) {
            put_bytes(t.s_axis_tdata, send + sent * BS_BEAT_BYTES, BS_BEAT_BYTES);
            t.s_axis_tlast = sent + 1 == n_in;
            t.s_axis_tvalid = 1;
            loaded = true;
        }
        clock_low(*d);
        const bool in_fire = t.s_axis_tvalid && t.s_axis_tready;
        const bool out_fire = t.m_axis_tvalid && t.m_axis_tready;
        if (out_fire) {
            const uint64_t beat = t.m_axis_tdata;
            std::memcpy(recv + received * 8, &beat, 8);
            received++;
            got_last = t.m_axis_tlast;
        }
        clock_high(*d);
        if (in_fire) {
            sent++;
            loaded = false;
            if (sent == n_in) {
                t.s_axis_tvalid = 0;
                t.s_axis_tlast = 0;
            }
        }
        if (out_fire && (got_last || received == n_out)) t.m_axis_tready = 0;
        idle = (in_fire || out_fire) ? 0 : idle + 1;
        if (sent == n_in && (got_last || received == n_out)) break;
        if (idle >= idle_limit) break;
    }
    idle_inputs(t);
    clock_low(*d);
    report[0] = sent;
    report[1] = received;
    report[2] = got_last;
    report[3] = d->cycles - start;
}

}  // extern "C"
