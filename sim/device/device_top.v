// Top of the Verilated device: beamstream_top with its reset taken through a register.
//
// Logic that depends on a top-level input is evaluated in every eval() call of the Verilated model (its
// input-combinational region), and Amaranth's synchronous reset reaches the next-state logic of every register. With `rst` a
// top-level input that logic ran three times per clock cycle; behind this register it runs once. The reset
// simply takes one more cycle to arrive. Every other port is beamstream_top's, unchanged: among them the device
// spelling's second clock, burst_clk, which the harness ticks only when burst_wake asks (hw/pipelined_arith.BURST).
module beamstream_device #(
    parameter integer BEAT_BITS = 128
) (
    input  wire                   clk,
    input  wire                   rst_in,
    input  wire                   burst_clk,
    output wire                   burst_wake,
    input  wire [BEAT_BITS-1:0]   s_axis_tdata,
    input  wire [BEAT_BITS/8-1:0] s_axis_tkeep,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,
    output wire [63:0]            m_axis_tdata,
    output wire [7:0]             m_axis_tkeep,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast,
    input  wire [7:0]             s_axi_lite_awaddr,
    input  wire [2:0]             s_axi_lite_awprot,
    input  wire                   s_axi_lite_awvalid,
    output wire                   s_axi_lite_awready,
    input  wire [31:0]            s_axi_lite_wdata,
    input  wire [3:0]             s_axi_lite_wstrb,
    input  wire                   s_axi_lite_wvalid,
    output wire                   s_axi_lite_wready,
    output wire [1:0]             s_axi_lite_bresp,
    output wire                   s_axi_lite_bvalid,
    input  wire                   s_axi_lite_bready,
    input  wire [7:0]             s_axi_lite_araddr,
    input  wire [2:0]             s_axi_lite_arprot,
    input  wire                   s_axi_lite_arvalid,
    output wire                   s_axi_lite_arready,
    output wire [31:0]            s_axi_lite_rdata,
    output wire [1:0]             s_axi_lite_rresp,
    output wire                   s_axi_lite_rvalid,
    input  wire                   s_axi_lite_rready
);
    reg rst = 1'b1;
    always @(posedge clk) rst <= rst_in;

    beamstream_top core (
        .clk(clk), .rst(rst), .burst_clk(burst_clk), .burst_wake(burst_wake),
        .s_axis_tdata(s_axis_tdata), .s_axis_tkeep(s_axis_tkeep), .s_axis_tvalid(s_axis_tvalid),
        .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast),
        .m_axis_tdata(m_axis_tdata), .m_axis_tkeep(m_axis_tkeep), .m_axis_tvalid(m_axis_tvalid),
        .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast),
        .s_axi_lite_awaddr(s_axi_lite_awaddr), .s_axi_lite_awprot(s_axi_lite_awprot),
        .s_axi_lite_awvalid(s_axi_lite_awvalid), .s_axi_lite_awready(s_axi_lite_awready),
        .s_axi_lite_wdata(s_axi_lite_wdata), .s_axi_lite_wstrb(s_axi_lite_wstrb),
        .s_axi_lite_wvalid(s_axi_lite_wvalid), .s_axi_lite_wready(s_axi_lite_wready),
        .s_axi_lite_bresp(s_axi_lite_bresp), .s_axi_lite_bvalid(s_axi_lite_bvalid),
        .s_axi_lite_bready(s_axi_lite_bready),
        .s_axi_lite_araddr(s_axi_lite_araddr), .s_axi_lite_arprot(s_axi_lite_arprot),
        .s_axi_lite_arvalid(s_axi_lite_arvalid), .s_axi_lite_arready(s_axi_lite_arready),
        .s_axi_lite_rdata(s_axi_lite_rdata), .s_axi_lite_rresp(s_axi_lite_rresp),
        .s_axi_lite_rvalid(s_axi_lite_rvalid), .s_axi_lite_rready(s_axi_lite_rready)
    );
endmodule
