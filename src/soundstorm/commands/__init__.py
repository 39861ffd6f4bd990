"""The command-line wing: one module per ``soundstorm`` subcommand.

Each module parses its arguments and calls the library; it holds no library logic of its own
beyond what only a command line needs (summaries, printing, exit codes)::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def main(args: argparse.Namespace) -> int: ...

``soundstorm.cli`` maps the subcommand names to these modules and imports only the one that
runs. Flags shared by several commands (``--device``, ``--quiet``, ``--seed``, the decoding
options) are added by the helpers of ``soundstorm.commands.options``, so that they read and
behave the same everywhere.
"""
