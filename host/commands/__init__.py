"""One module per CLI subcommand, each with add_arguments(parser) and run(args) -> exit code.

Modules import their heavy dependencies inside run() so `beamstream --help` stays fast.
"""
