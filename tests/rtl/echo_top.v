// Test stand-in for beamstream_top (default CoreConfig: P=4 fp32): same ports and register map, trivial work.
// Used only by tests/test_sim_transport.py to check the C++ harness on its own. A step of the right length
// yields K result beats {token = i, beam = beats in the step, score = XOR of every 32-bit input word}; a step of
// the wrong length sets the framing error and yields nothing.
module beamstream_top (
    input  wire         clk,
    input  wire         rst,
    input  wire         burst_clk,      // the device spelling's second clock: unused here, never asked for
    output wire         burst_wake,
    input  wire [127:0] s_axis_tdata,
    input  wire [15:0]  s_axis_tkeep,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    input  wire         s_axis_tlast,
    output wire [63:0]  m_axis_tdata,
    output wire [7:0]   m_axis_tkeep,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready,
    output wire         m_axis_tlast,
    input  wire [7:0]   s_axi_lite_awaddr,
    input  wire [2:0]   s_axi_lite_awprot,
    input  wire         s_axi_lite_awvalid,
    output wire         s_axi_lite_awready,
    input  wire [31:0]  s_axi_lite_wdata,
    input  wire [3:0]   s_axi_lite_wstrb,
    input  wire         s_axi_lite_wvalid,
    output wire         s_axi_lite_wready,
    output wire [1:0]   s_axi_lite_bresp,
    output reg          s_axi_lite_bvalid,
    input  wire         s_axi_lite_bready,
    input  wire [7:0]   s_axi_lite_araddr,
    input  wire [2:0]   s_axi_lite_arprot,
    input  wire         s_axi_lite_arvalid,
    output wire         s_axi_lite_arready,
    output reg  [31:0]  s_axi_lite_rdata,
    output wire [1:0]   s_axi_lite_rresp,
    output reg          s_axi_lite_rvalid,
    input  wire         s_axi_lite_rready
);
    reg [31:0] vocab, beams, k, cycles, steps;
    reg        framing_error, counting;
    reg [31:0] beats, checksum, emitted, run;
    reg        emitting;

    wire [31:0] expected = beams * (32'd1 + ((vocab + 32'd3) >> 2));
    wire in_fire = s_axis_tvalid && s_axis_tready;
    wire out_fire = m_axis_tvalid && m_axis_tready;
    wire aw_fire = s_axi_lite_awvalid && s_axi_lite_wvalid && !s_axi_lite_bvalid;
    wire clear = aw_fire && s_axi_lite_awaddr == 8'h00 && s_axi_lite_wdata[0];

    assign s_axis_tready = !emitting;
    assign m_axis_tvalid = emitting;
    assign m_axis_tdata = {emitted[23:0], beats[7:0], checksum};
    assign m_axis_tkeep = 8'hFF;
    assign m_axis_tlast = emitted == k - 1;
    assign s_axi_lite_awready = aw_fire;
    assign s_axi_lite_wready = aw_fire;
    assign s_axi_lite_bresp = 2'b00;
    assign s_axi_lite_arready = !s_axi_lite_rvalid;
    assign s_axi_lite_rresp = 2'b00;

    always @(posedge clk) begin
        if (rst || clear) begin
            vocab <= rst ? 32'd1 : vocab; beams <= rst ? 32'd1 : beams; k <= rst ? 32'd1 : k;
            cycles <= 0; steps <= 0; framing_error <= 0; counting <= 0;
            beats <= 0; checksum <= 0; emitted <= 0; emitting <= 0; run <= 0;
            s_axi_lite_bvalid <= clear; s_axi_lite_rvalid <= 0;
        end else begin
            if (counting || in_fire) run <= run + 1;
            if (in_fire) begin
                counting <= 1;
                beats <= beats + 1;
                checksum <= checksum ^ s_axis_tdata[31:0] ^ s_axis_tdata[63:32] ^ s_axis_tdata[95:64]
                            ^ s_axis_tdata[127:96];
                if (s_axis_tlast) begin
                    if (beats + 1 == expected) emitting <= 1;
                    else begin
                        framing_error <= 1; counting <= 0; beats <= 0; checksum <= 0; run <= 0;
                    end
                end
            end
            if (out_fire) begin
                emitted <= emitted + 1;
                if (m_axis_tlast) begin
                    emitting <= 0; counting <= 0; emitted <= 0; beats <= 0; checksum <= 0; run <= 0;
                    steps <= steps + 1; cycles <= run + 1;
                end
            end
            if (aw_fire) begin
                s_axi_lite_bvalid <= 1;
                case (s_axi_lite_awaddr)
                    8'h08: vocab <= s_axi_lite_wdata;
                    8'h0C: beams <= s_axi_lite_wdata;
                    8'h10: k <= s_axi_lite_wdata;
                    default: ;
                endcase
            end else if (s_axi_lite_bvalid && s_axi_lite_bready) s_axi_lite_bvalid <= 0;
            if (s_axi_lite_arvalid && s_axi_lite_arready) begin
                s_axi_lite_rvalid <= 1;
                case (s_axi_lite_araddr)
                    8'h04: s_axi_lite_rdata <= {29'd0, 1'b0, framing_error, counting || emitting};
                    8'h08: s_axi_lite_rdata <= vocab;
                    8'h0C: s_axi_lite_rdata <= beams;
                    8'h10: s_axi_lite_rdata <= k;
                    8'h14: s_axi_lite_rdata <= 32'h30081004;  // P=4, K_MAX=16, BEAMS_MAX=8, fp32, F=12
                    8'h18: s_axi_lite_rdata <= 32'd262144;
                    8'h1C: s_axi_lite_rdata <= cycles;
                    8'h20: s_axi_lite_rdata <= steps;
                    8'h24: s_axi_lite_rdata <= 32'h62530003;  // interface version 3
                    8'h28: s_axi_lite_rdata <= 32'd20;        // WIDTHS: logit_bits = 20
                    default: s_axi_lite_rdata <= 32'd0;
                endcase
            end else if (s_axi_lite_rvalid && s_axi_lite_rready) s_axi_lite_rvalid <= 0;
        end
    end
    assign burst_wake = 1'b0;
endmodule
