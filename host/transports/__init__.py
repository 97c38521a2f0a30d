"""beamstream.transports."""
