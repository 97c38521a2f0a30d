# FOR TESTS ONLY: just enough of Vivado's Tcl commands to run bitstreams/*.tcl in a plain tclsh, recording each
# call. tests/test_bitstreams.py sets the ::stub array (what the design answers) and sources a flow script; every
# Vivado command is recorded in ::calls and printed at exit, one call per line, words separated by \x1f.
#   ::stub(tdata)         CONFIG.S_AXIS_TDATA_WIDTH of the packaged core
#   ::stub(board_parts)   what get_board_parts finds
#   ::stub(clock_actual)  the PS's generated clock; "" = whatever was asked
#   ::stub(wns) ::stub(whs)  the implementation's setup and hold slack
#   ::stub(segments)      1: every slave gets an address segment, 0: none
#   ::stub(memory_maps)   memory maps inference made for s_axi_lite (package_ip.tcl)
set ::calls {}
array set ::props {}
namespace eval ipx {}

proc record {args} { lappend ::calls $args }
proc unknown {args} { record {*}$args; return "" }

proc create_bd_cell {args} { record create_bd_cell {*}$args; return "/[lindex $args end]" }
proc get_board_parts {args} { record get_board_parts {*}$args; return $::stub(board_parts) }
proc get_bd_intf_pins {args} {
    record get_bd_intf_pins {*}$args
    if {[lindex $args 0] eq "-of_objects"} { return [list /ps/HP_SLAVE /axi_mem_intercon/M00_AXI] }
    return [lindex $args end]
}
proc get_bd_cells {args} { return [file dirname [lindex $args end]] }
proc get_bd_addr_segs {args} { return [expr {$::stub(segments) ? "SEG_[lindex $args end]" : ""}] }
proc get_files {args} { return [lindex $args end] }
proc make_wrapper {args} { record make_wrapper {*}$args; return wrapper.v }
proc glob {args} { return [list [lindex $args end]] }
proc set_property {args} {
    record set_property {*}$args
    if {[lindex $args 0] eq "-dict"} {
        foreach {key value} [lindex $args 1] { set ::props([lindex $args 2],$key) $value }
    } else {
        set ::props([lindex $args 2],[lindex $args 0]) [lindex $args 1]
    }
}
proc get_property {name object} {
    switch -glob -- $name {
        CONFIG.S_AXIS_TDATA_WIDTH { return $::stub(tdata) }
        CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ { return [actual_clock $object CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ] }
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ {
            return [actual_clock $object CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ]
        }
        PROGRESS { return "100%" }
        STATS.WNS { return $::stub(wns) }
        STATS.WHS { return $::stub(whs) }
        NAME { return [string trimleft $object /] }
        default {
            if {[info exists ::props($object,$name)]} { return $::props($object,$name) }
            return ""
        }
    }
}
proc actual_clock {object asked} {
    if {$::stub(clock_actual) ne ""} { return $::stub(clock_actual) }
    return $::props($object,$asked)
}
proc ipx::get_memory_maps {args} { return [expr {$::stub(memory_maps) ? "map" : ""}] }
proc ipx::add_memory_map {args} { record ipx::add_memory_map {*}$args; set ::stub(memory_maps) 1 }
proc ipx::get_address_blocks {args} { return reg0 }
proc ipx::get_bus_interfaces {args} { record ipx::get_bus_interfaces {*}$args; return [lindex $args 0] }
rename file _file
proc file {sub args} {
    if {$sub eq "copy"} { record file copy {*}$args; return }
    return [_file $sub {*}$args]
}
proc dump {} { foreach call $::calls { puts [join $call \x1f] } }
