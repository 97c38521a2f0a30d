# Block design, implementation and bitstream for one board: PS + AXI DMA (simple mode) + the beamstream core.
#   vivado -mode batch -source block_design.tcl -tclargs <part> <board_part> <ps> <hp_bits> <clock_mhz> \
#       <ip_dir> <work_dir> <out_dir> <jobs>
# Targets Vivado 2023.2. Writes <out_dir>/beamstream.bit, beamstream.hwh (the pair pynq.Overlay loads) and
# build.txt (configuration, requested and generated clock, setup and hold slack). The board's values come from
# beamstream.hw.boards through bitstreams/Makefile.
#
# DMA length register: one step is one MM2S transfer of B x (1 + ceil(V/P)) beats of P x W bits, at most
# BEAMS_MAX x (1 + VOCAB_MAX / P) x P x W / 8 bytes: 8.4 MB for B = 8, V = 262144 in fp32, which needs 24 bits.
# c_sg_length_width is 26, the AXI DMA's maximum (64 MiB - 1 per transfer), so every build fits; PYNQ's default
# of 14 bits (16 KB) would not carry one row. The suite checks this against the driver's limit.
if {[llength $argv] != 9} {
    error "usage: block_design.tcl <part> <board_part> <ps> <hp_bits> <clock_mhz> <ip_dir> <work_dir> <out_dir> <jobs>"
}
lassign $argv part board_part ps_kind hp_bits clock_mhz ip_dir work_dir out_dir jobs
set dma_length_width 26
set design beamstream_bd    ;# not the packaged IP's module name (beamstream): the two must differ

create_project -force $design [file join $work_dir project] -part $part
# The board part, any version installed (board files are versioned; a newer one is as good). Without it the PS
# would get Vivado's defaults, not the board's DDR and MIO settings, and the bitstream would not boot.
set found [lsort -decreasing -dictionary [get_board_parts -quiet "${board_part}:*"]]
if {[llength $found] == 0} {
    error "block_design.tcl: no board files for $board_part are installed; install them (Vivado: Tools >\
           Vivado Store > Boards; the PYNQ-Z2's come from TUL) and run again"
}
set_property board_part [lindex $found 0] [current_project]
puts "beamstream: board part [lindex $found 0]"
set_property ip_repo_paths [list [file normalize $ip_dir]] [current_project]
update_ip_catalog
create_bd_design $design

# Processing system with the board preset: one general-purpose master for the registers, one high-performance
# slave of hp_bits for the DMA, the fabric clock FCLK0 / pl_clk0 at clock_mhz.
if {$ps_kind eq "zynq"} {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config [list make_external "FIXED_IO, DDR" apply_board_preset 1 Master Disable Slave Disable] $ps
    set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 1 CONFIG.PCW_USE_S_AXI_HP0 1 \
        CONFIG.PCW_S_AXI_HP0_DATA_WIDTH $hp_bits CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $clock_mhz] $ps
    set clock_actual [get_property CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ $ps]
    set gp_master /ps/M_AXI_GP0
    set hp_slave /ps/S_AXI_HP0
    set addr_width 32
} else {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e ps]
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config [list apply_board_preset 1] $ps
    # Without OVERRIDE__BASIC_CLOCK 0 the board preset's PL clock may win over the requested one.
    set_property -dict [list CONFIG.PSU__USE__M_AXI_GP0 1 CONFIG.PSU__USE__M_AXI_GP1 0 CONFIG.PSU__USE__M_AXI_GP2 0 \
        CONFIG.PSU__USE__S_AXI_GP2 1 CONFIG.PSU__SAXIGP2__DATA_WIDTH $hp_bits CONFIG.PSU__OVERRIDE__BASIC_CLOCK 0 \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $clock_mhz] $ps
    set clock_actual [get_property CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ $ps]
    set gp_master /ps/M_AXI_HPM0_FPD
    set hp_slave /ps/S_AXI_HP0_FPD
    set addr_width 64
}
# The clock the PS generates from its PLL and divisors, read back: it is what timing is closed at.
if {$clock_actual eq "" || abs($clock_actual - $clock_mhz) > 0.01 * $clock_mhz} {
    error "block_design.tcl: asked the PS for a $clock_mhz MHz fabric clock and it generates '$clock_actual' MHz;\
           pick a CLOCK_MHZ its PLL divides to"
}
puts "beamstream: fabric clock $clock_actual MHz (asked $clock_mhz MHz)"

set core [create_bd_cell -type ip -vlnv beamstream:beamstream:beamstream:1.0 beamstream]
set tdata_width [get_property CONFIG.S_AXIS_TDATA_WIDTH $core]

# AXI DMA, simple mode: MM2S streams a step into the core, S2MM takes the K 64-bit result beats back.
# The memory-mapped widths first: the stream may not be wider than its memory-mapped side (PG022), so setting the
# stream first would be refused or clipped while the memory-mapped width is still its default of 32.
set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma axi_dma]
set_property -dict [list \
    CONFIG.c_include_sg 0 \
    CONFIG.c_sg_include_stscntrl_strm 0 \
    CONFIG.c_sg_length_width $dma_length_width \
    CONFIG.c_addr_width $addr_width \
    CONFIG.c_include_mm2s 1 \
    CONFIG.c_include_s2mm 1 \
    CONFIG.c_m_axi_mm2s_data_width [expr {max($tdata_width, 32)}] \
    CONFIG.c_m_axi_s2mm_data_width 64 \
] $dma
set_property -dict [list \
    CONFIG.c_m_axis_mm2s_tdata_width $tdata_width \
    CONFIG.c_mm2s_burst_size 64 \
    CONFIG.c_s_axis_s2mm_tdata_width 64 \
    CONFIG.c_s2mm_burst_size 16 \
] $dma
foreach {param want} [list c_m_axis_mm2s_tdata_width $tdata_width c_s_axis_s2mm_tdata_width 64 \
                          c_sg_length_width $dma_length_width] {
    if {[get_property CONFIG.$param $dma] != $want} {
        error "block_design.tcl: the AXI DMA kept $param = [get_property CONFIG.$param $dma], not $want"
    }
}
connect_bd_intf_net [get_bd_intf_pins axi_dma/M_AXIS_MM2S] [get_bd_intf_pins beamstream/s_axis]
connect_bd_intf_net [get_bd_intf_pins beamstream/m_axis] [get_bd_intf_pins axi_dma/S_AXIS_S2MM]

# Registers of the DMA and the core on the general-purpose port. Automation wires every AXI clock to the PS
# clock and adds the synchronised reset.
foreach slave {/axi_dma/S_AXI_LITE /beamstream/s_axi_lite} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto Clk_slave Auto Clk_xbar Auto \
        Master $gp_master Slave $slave intc_ip Auto master_apm 0] [get_bd_intf_pins $slave]
}
# Both DMA masters into DDR through the one HP port: the first call makes the interconnect in front of the HP
# slave, the second joins the S2MM master to that same interconnect.
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto Clk_slave Auto Clk_xbar Auto \
    Master /axi_dma/M_AXI_MM2S Slave $hp_slave intc_ip Auto master_apm 0] [get_bd_intf_pins $hp_slave]
set hp_net [get_bd_intf_nets -of_objects [get_bd_intf_pins $hp_slave]]
set hp_intc ""
foreach pin [get_bd_intf_pins -of_objects $hp_net] {
    set cell [get_bd_cells -of_objects $pin]
    if {$cell ne $ps} { set hp_intc "/[get_property NAME $cell]" }
}
if {$hp_intc eq ""} { error "block_design.tcl: automation put no interconnect in front of $hp_slave" }
apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master Auto Clk_slave Auto Clk_xbar Auto \
    Master /axi_dma/M_AXI_S2MM Slave $hp_slave intc_ip $hp_intc master_apm 0] [get_bd_intf_pins axi_dma/M_AXI_S2MM]
# The core runs on the DMA's clock and reset; join any of its pins automation left open to those nets.
foreach {pin like} {beamstream/aclk axi_dma/s_axi_lite_aclk beamstream/aresetn axi_dma/axi_resetn} {
    if {[llength [get_bd_nets -quiet -of_objects [get_bd_pins $pin]]] == 0} {
        connect_bd_net -net [get_bd_nets -of_objects [get_bd_pins $like]] [get_bd_pins $pin]
    }
}

assign_bd_address
# PYNQ builds ip_dict from the address map: the core's registers must have a segment in the PS's address space.
foreach slave {axi_dma/S_AXI_LITE beamstream/s_axi_lite} {
    set segs [get_bd_addr_segs -quiet "$slave/*"]
    if {[llength $segs] == 0 || [llength [get_bd_addr_segs -quiet -of_objects $segs]] == 0} {
        error "block_design.tcl: $slave has no address segment in the PS's address map (does the IP's interface\
               have a memory map? see package_ip.tcl)"
    }
}
validate_bd_design
save_bd_design

set bd_file [get_files $design.bd]
add_files -norecurse [make_wrapper -files $bd_file -top]
set_property top ${design}_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "block_design.tcl: implementation did not finish; see [get_property DIRECTORY [get_runs impl_1]]/runme.log"
}
# Timing gate: setup and hold. An empty slack means no path was timed (no clock reached the core): a failure too.
set slack {}
foreach {kind stat} {setup STATS.WNS hold STATS.WHS} {
    set value [get_property $stat [get_runs impl_1]]
    if {![string is double -strict $value]} {
        error "block_design.tcl: implementation reports no $kind slack ($stat = '$value'); is the core clocked?"
    }
    if {$value < 0} {
        error "block_design.tcl: $kind timing not met at $clock_actual MHz (worst slack $value ns);\
               rerun with a lower CLOCK_MHZ"
    }
    dict set slack $kind $value
}

file mkdir $out_dir
set bit [lindex [glob [file join [get_property DIRECTORY [get_runs impl_1]] *.bit]] 0]
# The hardware handoff: under <project>.gen (Vivado 2020.2 and later) or <project>.srcs.
set hwh [lindex [glob [file join $work_dir project $design.* sources_1 bd $design hw_handoff $design.hwh]] 0]
file copy -force $bit [file join $out_dir beamstream.bit]
file copy -force $hwh [file join $out_dir beamstream.hwh]
set info [open [file join $out_dir build.txt] w]
puts $info "part $part\nboard_part [lindex $found 0]\nstream_bits $tdata_width\nclock_mhz_asked $clock_mhz"
puts $info "clock_mhz $clock_actual\nsetup_slack_ns [dict get $slack setup]\nhold_slack_ns [dict get $slack hold]"
puts $info "dma_length_width $dma_length_width"
close $info
puts "beamstream: wrote [file join $out_dir beamstream.bit], beamstream.hwh and build.txt:\
      $clock_actual MHz, setup slack [dict get $slack setup] ns, hold slack [dict get $slack hold] ns"
