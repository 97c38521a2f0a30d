# Block design, implementation and bitstream for one board: PS + AXI DMA (simple mode) + the beamstream core.
#   vivado -mode batch -source block_design.tcl -tclargs <board> <ip_dir> <work_dir> <out_dir> <jobs> <freq_mhz>
# Targets Vivado 2023.2. Writes <out_dir>/beamstream.bit and <out_dir>/beamstream.hwh, the pair pynq.Overlay loads.
#
# DMA length register: one step is one MM2S transfer of B x (1 + ceil(V/P)) beats of P x W bits. For V = 152064,
# B = 8 in bf16 that is 8 x (1 + 38016) x 8 bytes = 2,433,088 bytes at P = 4 (about the same at any P), which
# needs 22 bits (< 2^22 = 4,194,304); fp32 doubles it to 23 bits. c_sg_length_width is set to 26, the AXI DMA's
# maximum (64 MiB - 1 per transfer), so every format up to VOCAB_MAX = 262144 at B = 8 (8.4 MB in fp32) fits.
if {[llength $argv] != 6} {
    error "usage: block_design.tcl <board> <ip_dir> <work_dir> <out_dir> <jobs> <freq_mhz>"
}
lassign $argv board ip_dir work_dir out_dir jobs freq_mhz
set dma_length_width 26

# board -> part, board part (used when its board files are installed), PS kind
set boards {
    pynq-z2 {xc7z020clg400-1     tul.com.tw:pynq-z2:part0:1.0  zynq}
    zcu104  {xczu7ev-ffvc1156-2-e xilinx.com:zcu104:part0:1.1  zynqmp}
    kv260   {xck26-sfvc784-2LV-c  xilinx.com:kv260_som:part0:1.4 zynqmp}
}
if {![dict exists $boards $board]} {
    error "block_design.tcl: unknown board '$board'; known: [dict keys $boards]"
}
lassign [dict get $boards $board] part board_part ps_kind

create_project -force beamstream_$board [file join $work_dir project] -part $part
if {[llength [get_board_parts -quiet $board_part]]} {
    set_property board_part $board_part [current_project]
    set preset 1
} else {
    puts "WARNING: board files for $board_part are not installed: the PS gets Vivado's defaults, not the board's\
          DDR and MIO settings. Install them (Vivado: Tools > Vivado Store > Boards) for a bitstream that boots."
    set preset 0
}
set_property ip_repo_paths [list [file normalize $ip_dir]] [current_project]
update_ip_catalog
create_bd_design beamstream

# Processing system: one general-purpose master for the registers, one high-performance slave for the DMA.
if {$ps_kind eq "zynq"} {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config [list make_external "FIXED_IO, DDR" apply_board_preset $preset Master Disable Slave Disable] $ps
    set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 1 CONFIG.PCW_USE_S_AXI_HP0 1 \
        CONFIG.PCW_S_AXI_HP0_DATA_WIDTH 64 CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $freq_mhz] $ps
    set gp_master /ps/M_AXI_GP0
    set hp_slave /ps/S_AXI_HP0
    set addr_width 32
} else {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e ps]
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config [list apply_board_preset $preset] $ps
    set_property -dict [list CONFIG.PSU__USE__M_AXI_GP0 1 CONFIG.PSU__USE__M_AXI_GP1 0 CONFIG.PSU__USE__M_AXI_GP2 0 \
        CONFIG.PSU__USE__S_AXI_GP2 1 CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $freq_mhz] $ps
    set gp_master /ps/M_AXI_HPM0_FPD
    set hp_slave /ps/S_AXI_HP0_FPD
    set addr_width 64
}

set core [create_bd_cell -type ip -vlnv beamstream:beamstream:beamstream:1.0 beamstream]
set tdata_width [get_property CONFIG.S_AXIS_TDATA_WIDTH $core]

# AXI DMA, simple mode: MM2S streams a step into the core, S2MM takes the K 64-bit result beats back.
# Its memory-mapped side must be at least as wide as its streams.
set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma axi_dma]
set_property -dict [list \
    CONFIG.c_include_sg 0 \
    CONFIG.c_sg_include_stscntrl_strm 0 \
    CONFIG.c_sg_length_width $dma_length_width \
    CONFIG.c_addr_width $addr_width \
    CONFIG.c_include_mm2s 1 \
    CONFIG.c_m_axis_mm2s_tdata_width $tdata_width \
    CONFIG.c_m_axi_mm2s_data_width [expr {max($tdata_width, 32)}] \
    CONFIG.c_mm2s_burst_size 64 \
    CONFIG.c_include_s2mm 1 \
    CONFIG.c_s_axis_s2mm_tdata_width 64 \
    CONFIG.c_m_axi_s2mm_data_width 64 \
    CONFIG.c_s2mm_burst_size 16 \
] $dma
connect_bd_intf_net [get_bd_intf_pins axi_dma/M_AXIS_MM2S] [get_bd_intf_pins beamstream/s_axis]
connect_bd_intf_net [get_bd_intf_pins beamstream/m_axis] [get_bd_intf_pins axi_dma/S_AXIS_S2MM]

# Registers of the DMA and the core on the general-purpose port; both DMA masters into DDR through the HP port.
# Automation wires every AXI clock to the PS clock and adds the synchronised reset.
foreach slave {/axi_dma/S_AXI_LITE /beamstream/s_axi_lite} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto Clk_slave Auto Clk_xbar Auto \
        Master $gp_master Slave $slave intc_ip Auto master_apm 0] [get_bd_intf_pins $slave]
}
foreach master {/axi_dma/M_AXI_MM2S /axi_dma/M_AXI_S2MM} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto Clk_slave Auto Clk_xbar Auto \
        Master $master Slave $hp_slave intc_ip Auto master_apm 0] [get_bd_intf_pins $hp_slave]
}
# The core runs on the DMA's clock and reset; join any of its pins automation left open to those nets.
foreach {pin like} {beamstream/aclk axi_dma/s_axi_lite_aclk beamstream/aresetn axi_dma/axi_resetn} {
    if {[llength [get_bd_nets -quiet -of_objects [get_bd_pins $pin]]] == 0} {
        connect_bd_net -net [get_bd_nets -of_objects [get_bd_pins $like]] [get_bd_pins $pin]
    }
}

assign_bd_address
validate_bd_design
save_bd_design

set bd_file [get_files beamstream.bd]
make_wrapper -files $bd_file -top
add_files -norecurse [file join [file dirname $bd_file] hdl beamstream_wrapper.v]
set_property top beamstream_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "block_design.tcl: implementation did not finish; see [get_property DIRECTORY [get_runs impl_1]]/runme.log"
}
set wns [get_property STATS.WNS [get_runs impl_1]]
if {$wns < 0} {
    error "block_design.tcl: timing not met at $freq_mhz MHz (WNS $wns ns); rerun with a lower FREQ_MHZ"
}

file mkdir $out_dir
set bit [lindex [glob [file join [get_property DIRECTORY [get_runs impl_1]] *.bit]] 0]
set hwh [lindex [glob [file join $work_dir project beamstream_$board.gen sources_1 bd beamstream hw_handoff beamstream.hwh]] 0]
file copy -force $bit [file join $out_dir beamstream.bit]
file copy -force $hwh [file join $out_dir beamstream.hwh]
puts "beamstream: wrote [file join $out_dir beamstream.bit] and beamstream.hwh (WNS $wns ns at $freq_mhz MHz)"
