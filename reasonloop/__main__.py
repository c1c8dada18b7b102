"""``python -m reasonloop`` runs the CLI."""

from reasonloop.cli import cli_entry

if __name__ == "__main__":
    cli_entry()
