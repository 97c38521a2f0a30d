"""beamstream.report: the co-design report."""
