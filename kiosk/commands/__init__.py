"""One module per ``facekiosk`` subcommand; each has ``add_parser(subparsers)``.

A command's parser sets ``func`` to a ``run(args) -> int`` that returns the exit status.
"""
