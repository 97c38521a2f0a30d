"""beamstream.sim: cocotb testbenches, the runner, and the Verilated device."""
