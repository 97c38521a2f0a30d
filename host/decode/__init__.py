"""beamstream.decode."""
