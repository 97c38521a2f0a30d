"""beamstream.hwmodel."""
