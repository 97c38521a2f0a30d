# Package the exported beamstream_top Verilog, inside hdl/beamstream.v, as a Vivado IP.
#   vivado -mode batch -source package_ip.tcl -tclargs <beamstream_top.v> <hdl/beamstream.v> <ip_dir> <part>
# Targets Vivado 2023.2. The IP's VLNV is beamstream:beamstream:beamstream:1.0 (PynqTransport finds the core in
# an overlay by the name part "beamstream"); the block design is named beamstream_bd, not the same as this module. X_INTERFACE_INFO in the wrapper makes packaging infer s_axis and
# m_axis (AXI4-Stream), s_axi_lite (AXI4-Lite slave), aclk and the active-low aresetn.
if {[llength $argv] != 4} {
    error "usage: package_ip.tcl <beamstream_top.v> <wrapper.v> <ip_dir> <part>"
}
lassign $argv verilog wrapper ip_dir part
foreach f [list $verilog $wrapper] {
    if {![file exists $f]} { error "package_ip.tcl: $f does not exist (run 'make verilog' first)" }
}

# S_AXIS_TDATA_WIDTH = lanes x lane width, read from the exported top level's port declaration.
set text [read [open $verilog r]]
if {![regexp {input\s+(?:wire\s+)?\[(\d+):0\]\s*s_axis_tdata} $text -> msb]} {
    error "package_ip.tcl: no 'input \[N:0\] s_axis_tdata' port in $verilog; is it beamstream_top?"
}
set tdata_width [expr {$msb + 1}]
if {$tdata_width & ($tdata_width - 1)} {
    error "package_ip.tcl: s_axis is $tdata_width bits; the AXI DMA streams 8..1024 bits in powers of two: pick lanes so that lanes x lane width is one"
}
puts "beamstream: packaging $verilog with S_AXIS_TDATA_WIDTH=$tdata_width for $part"

file delete -force $ip_dir
file mkdir $ip_dir
create_project -in_memory -part $part
add_files -norecurse [list [file normalize $verilog] [file normalize $wrapper]]
set_property top beamstream [current_fileset]
update_compile_order -fileset sources_1

ipx::package_project -root_dir [file normalize $ip_dir] -vendor beamstream -library beamstream -taxonomy /UserIP \
    -import_files -set_current true
set core [ipx::current_core]
set_property name beamstream $core
set_property version 1.0 $core
set_property display_name "beamstream score-and-top-K" $core
set_property description "beamstream core: log-softmax + beam score + top-K over one decode step; built from [file tail $verilog]" $core
set_property supported_families {zynq Production zynquplus Production} $core

# Record the stream width as the IP's parameter value (the core's other parameters are in its CONFIG register).
set_property value $tdata_width [ipx::get_user_parameters S_AXIS_TDATA_WIDTH -of_objects $core]
set_property value $tdata_width [ipx::get_hdl_parameters S_AXIS_TDATA_WIDTH -of_objects $core]
set_property enablement_value false [ipx::get_user_parameters S_AXIS_TDATA_WIDTH -of_objects $core]

foreach bus {s_axis m_axis s_axi_lite aclk aresetn} {
    if {[llength [ipx::get_bus_interfaces $bus -of_objects $core]] == 0} {
        error "package_ip.tcl: interface $bus was not inferred; check the X_INTERFACE_INFO attributes in $wrapper"
    }
}
ipx::associate_bus_interfaces -busif s_axis -clock aclk $core
ipx::associate_bus_interfaces -busif m_axis -clock aclk $core
ipx::associate_bus_interfaces -busif s_axi_lite -clock aclk $core

# The register interface needs a memory map with an address block, or the block design gives it no address
# segment and PYNQ (which builds ip_dict from the address map) never sees the core. Inference may not make one.
set lite [ipx::get_bus_interfaces s_axi_lite -of_objects $core]
if {[llength [ipx::get_memory_maps s_axi_lite -of_objects $core]] == 0} {
    ipx::add_memory_map s_axi_lite $core
}
set_property slave_memory_map_ref s_axi_lite $lite
set map [ipx::get_memory_maps s_axi_lite -of_objects $core]
if {[llength [ipx::get_address_blocks -of_objects $map]] == 0} {
    ipx::add_address_block reg0 $map
}
set block [lindex [ipx::get_address_blocks -of_objects $map] 0]
set_property range 4096 $block       ;# registers 0x00..0x24 (docs/transports.md); 4 KB is Vivado's smallest segment
set_property usage register $block

ipx::create_xgui_files $core
ipx::update_checksums $core
ipx::check_integrity $core
ipx::save_core $core
puts "beamstream: IP written to $ip_dir"
