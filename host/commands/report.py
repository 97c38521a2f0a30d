"""`beamstream report`: not built yet (see the open issue that names it)."""


def add_arguments(parser):
    pass


def run(args):
    raise RuntimeError("'beamstream report' is not implemented yet")
