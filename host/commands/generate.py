"""`beamstream generate`: not built yet (see the open issue that names it)."""


def add_arguments(parser):
    pass


def run(args):
    raise RuntimeError("'beamstream generate' is not implemented yet")
