"""FOR TESTS ONLY: the .bit / .hwh pair of a PYNQ-Z2 beamstream block design, as bitstreams/block_design.tcl makes it.

The .hwh holds what pynq reads from a real one: the PS7 with its FCLK0 enable, divisors and requested frequency,
the AXI DMA (simple mode, its c_* parameters, S_AXI_LITE in the PS's M_AXI_GP0 address map) and the beamstream
core (s_axi_lite in the same map). The .bit is a header and a few bytes: the simulated board programs nothing.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

# PYNQ-Z2 address map as Vivado's assign_bd_address gives it (GP0 peripherals from 0x4000_0000).
DMA_BASE, CORE_BASE, RANGE = 0x4040_0000, 0x43C0_0000, 0x1_0000
IO_PLL_MHZ = 1000.0      # PYNQ-Z2: 50 MHz PS clock, IO PLL x20
PS_CLK_MHZ = 50.0


def fclk_divisors(clock_mhz: float) -> tuple[int, int]:
    """The two 6-bit FCLK divisors of the IO PLL closest to `clock_mhz` (as Vivado's PS7 configuration picks)."""
    best = min(((a, b) for a in range(1, 64) for b in range(1, 64)),
               key=lambda ab: (abs(IO_PLL_MHZ / (ab[0] * ab[1]) - clock_mhz), ab[1]))
    return best


def _params(values: dict) -> str:
    return "".join(f'<PARAMETER NAME={quoteattr(k)} VALUE={quoteattr(str(v))}/>' for k, v in values.items())


def _busif(name: str, kind: str, vlnv: str, busname: str, width: int | None = None, extra: dict | None = None) -> str:
    width_attr = f' DATAWIDTH="{width}"' if width else ""
    return (f'<BUSINTERFACE BUSNAME="{busname}"{width_attr} NAME="{name}" TYPE="{kind}" VLNV="{vlnv}">'
            f'{_params(extra or {})}</BUSINTERFACE>')


def _memrange(instance: str, slave: str, base: int, block: str = "Reg", kind: str = "REGISTER",
              master: str = "M_AXI_GP0") -> str:
    return (f'<MEMRANGE ADDRESSBLOCK="{block}" BASENAME="C_BASEADDR" BASEVALUE="0x{base:08X}" HIGHNAME="C_HIGHADDR" '
            f'HIGHVALUE="0x{base + RANGE - 1:08X}" INSTANCE="{instance}" IS_DATA="TRUE" IS_INSTRUCTION="TRUE" '
            f'MASTERBUSINTERFACE="{master}" MEMTYPE="{kind}" SLAVEBUSINTERFACE="{slave}"/>')


def _clock_port(name: str, clock_mhz: float, direction: str = "I") -> str:
    return (f'<PORT CLKFREQUENCY="{int(round(clock_mhz * 1e6))}" DIR="{direction}" NAME="{name}" SIGIS="clk" '
            'SIGNAME="ps_FCLK_CLK0"/>')


AXIMM = "xilinx.com:interface:aximm:1.0"
AXIS = "xilinx.com:interface:axis:1.0"


def hwh_text(stream_bits: int, length_width: int, clock_mhz: float) -> str:
    div0, div1 = fclk_divisors(clock_mhz)
    actual = IO_PLL_MHZ / (div0 * div1)
    ps_params = {"PCW_FPGA_FCLK0_ENABLE": 1, "PCW_FPGA_FCLK1_ENABLE": 0, "PCW_FPGA_FCLK2_ENABLE": 0,
                 "PCW_FPGA_FCLK3_ENABLE": 0, "PCW_FPGA0_PERIPHERAL_FREQMHZ": f"{clock_mhz:g}",
                 "PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ": f"{actual:.6f}",
                 "PCW_FCLK0_PERIPHERAL_CLKSRC": "IO PLL", "PCW_FCLK0_PERIPHERAL_DIVISOR0": div0,
                 "PCW_FCLK0_PERIPHERAL_DIVISOR1": div1, "PCW_USE_M_AXI_GP0": 1, "PCW_USE_S_AXI_HP0": 1,
                 "PCW_S_AXI_HP0_DATA_WIDTH": 64, "C_FCLK_CLK0_BUF": "TRUE", "EDK_IPTYPE": "PERIPHERAL"}
    for i in (1, 2, 3):
        ps_params |= {f"PCW_FCLK{i}_PERIPHERAL_CLKSRC": "IO PLL", f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0": 1,
                      f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1": 1}
    mm2s_width = max(stream_bits, 32)
    dma_params = {"c_include_sg": 0, "c_sg_length_width": length_width, "c_micro_dma": 0, "c_include_mm2s": 1,
                  "c_m_axi_mm2s_data_width": mm2s_width, "c_m_axis_mm2s_tdata_width": stream_bits,
                  "c_include_mm2s_dre": 0, "c_mm2s_burst_size": 64, "c_include_s2mm": 1,
                  "c_m_axi_s2mm_data_width": 64, "c_s_axis_s2mm_tdata_width": 64, "c_include_s2mm_dre": 0,
                  "c_s2mm_burst_size": 16, "c_addr_width": 32, "EDK_IPTYPE": "PERIPHERAL",
                  "C_BASEADDR": f"0x{DMA_BASE:08X}", "C_HIGHADDR": f"0x{DMA_BASE + RANGE - 1:08X}"}
    core_params = {"S_AXIS_TDATA_WIDTH": stream_bits, "EDK_IPTYPE": "PERIPHERAL",
                   "C_BASEADDR": f"0x{CORE_BASE:08X}", "C_HIGHADDR": f"0x{CORE_BASE + RANGE - 1:08X}"}
    ps = (
        '<MODULE CONFIGURABLE="TRUE" FULLNAME="/ps" HWVERSION="5.5" INSTANCE="ps" IPTYPE="PERIPHERAL" IS_ENABLE="1" '
        'IS_PL="FALSE" MODTYPE="processing_system7" VLNV="xilinx.com:ip:processing_system7:5.5">'
        f'<PARAMETERS>{_params(ps_params)}</PARAMETERS>'
        f'<PORTS>{_clock_port("M_AXI_GP0_ACLK", actual)}{_clock_port("S_AXI_HP0_ACLK", actual)}'
        f'{_clock_port("FCLK_CLK0", actual, "O")}</PORTS>'
        '<BUSINTERFACES>'
        + _busif("M_AXI_GP0", "MASTER", AXIMM, "ps_M_AXI_GP0", 32)
        + _busif("S_AXI_HP0", "SLAVE", AXIMM, "axi_dma_M_AXI", 64)
        + '</BUSINTERFACES><MEMORYMAP>'
        + _memrange("axi_dma", "S_AXI_LITE", DMA_BASE) + _memrange("beamstream", "s_axi_lite", CORE_BASE)
        + '</MEMORYMAP></MODULE>')
    dma = (
        '<MODULE FULLNAME="/axi_dma" HWVERSION="7.1" INSTANCE="axi_dma" IPTYPE="PERIPHERAL" IS_ENABLE="1" '
        'MODCLASS="PERIPHERAL" MODTYPE="axi_dma" VLNV="xilinx.com:ip:axi_dma:7.1">'
        f'<PARAMETERS>{_params(dma_params)}</PARAMETERS>'
        f'<PORTS>{_clock_port("s_axi_lite_aclk", actual)}{_clock_port("m_axi_mm2s_aclk", actual)}</PORTS>'
        '<BUSINTERFACES>'
        + _busif("S_AXI_LITE", "SLAVE", AXIMM, "ps_M_AXI_GP0", 32, {"PROTOCOL": "AXI4LITE"})
        + _busif("M_AXI_MM2S", "MASTER", AXIMM, "axi_dma_M_AXI", mm2s_width)
        + _busif("M_AXI_S2MM", "MASTER", AXIMM, "axi_dma_M_AXI", 64)
        + _busif("M_AXIS_MM2S", "INITIATOR", AXIS, "axi_dma_M_AXIS_MM2S")
        + _busif("S_AXIS_S2MM", "TARGET", AXIS, "beamstream_m_axis")
        + '</BUSINTERFACES><MEMORYMAP>'
        + _memrange("ps", "S_AXI_HP0", 0, "HP0_DDR_LOWOCM", "MEMORY", "M_AXI_MM2S").replace(
            f'HIGHVALUE="0x{RANGE - 1:08X}"', 'HIGHVALUE="0x1FFFFFFF"')
        + '</MEMORYMAP></MODULE>')
    core = (
        '<MODULE FULLNAME="/beamstream" HWVERSION="1.0" INSTANCE="beamstream" IPTYPE="PERIPHERAL" IS_ENABLE="1" '
        'MODCLASS="PERIPHERAL" MODTYPE="beamstream" VLNV="beamstream:beamstream:beamstream:1.0">'
        f'<PARAMETERS>{_params(core_params)}</PARAMETERS>'
        f'<PORTS>{_clock_port("aclk", actual)}</PORTS>'
        '<BUSINTERFACES>'
        + _busif("s_axi_lite", "SLAVE", AXIMM, "ps_M_AXI_GP0", 32, {"PROTOCOL": "AXI4LITE"})
        + _busif("s_axis", "TARGET", AXIS, "axi_dma_M_AXIS_MM2S")
        + _busif("m_axis", "INITIATOR", AXIS, "beamstream_m_axis")
        + '</BUSINTERFACES></MODULE>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
            '<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="Thu Jan  1 00:00:00 2026" VIVADOVERSION="2023.2">'
            '<SYSTEMINFO ARCH="zynq" DEVICE="7z020" NAME="beamstream" PACKAGE="clg400" SPEEDGRADE="-1"/>'
            '<EXTERNALPORTS/><EXTERNALINTERFACES/>'
            f'<MODULES>{ps}{dma}{core}</MODULES></EDKSYSTEM>\n')


def bit_bytes(design: str = "beamstream") -> bytes:
    """A .bit file's header (design, part, date, time) and a 4-byte body, as pynq's parse_bit_header reads it."""
    def field(tag: bytes, text: str) -> bytes:
        data = text.encode() + b"\0"
        return tag + len(data).to_bytes(2, "big") + data
    preamble = (9).to_bytes(2, "big") + bytes.fromhex("0ff00ff00ff00ff000") + (1).to_bytes(2, "big")
    body = b"\xff\xff\xff\xff"
    return (preamble + field(b"a", f"{design};UserID=0XFFFFFFFF;Version=2023.2") + field(b"b", "7z020clg400")
            + field(b"c", "2026/01/01") + field(b"d", "00:00:00") + b"e" + len(body).to_bytes(4, "big") + body)


def write_overlay(folder, stream_bits: int, *, length_width: int = 26, clock_mhz: float = 100.0) -> Path:
    """Write folder/beamstream.bit and beamstream.hwh; returns the .bit's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "beamstream.hwh").write_text(hwh_text(stream_bits, length_width, clock_mhz))
    bit = folder / "beamstream.bit"
    bit.write_bytes(bit_bytes())
    return bit
