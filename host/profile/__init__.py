"""beamstream.profile: where a decoded token's time goes (model phases, the step, the host's bookkeeping), the
same token with the step on each board's fabric, and what each wire format costs in answers. docs/profile.md."""
