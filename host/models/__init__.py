"""beamstream.models."""
