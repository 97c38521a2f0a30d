"""beamstream.bench."""
