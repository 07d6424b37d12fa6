"""The ``tracehop`` command line: click only.

Each command parses its options, calls the library, and formats the result. Library errors
(:class:`tracehop.errors.TracehopError`) become one ``Error: what happened. How to fix it.``
line and exit code 1; nothing else is caught, so a bug still shows its traceback.

Each command's docstring is its ``--help`` and carries an example.
"""

from __future__ import annotations

from typing import Any

import click

from tracehop import __version__
from tracehop.errors import TracehopError


class _Group(click.Group):
    """Turns library errors into one clear line at the CLI edge."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TracehopError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="tracehop")
def cli() -> None:
    """tracehop: answer robocall traceback inquiries from your own call records.

    \b
    Quick start on bundled demo data:
        tracehop demo
    """


# --- ingest ---------------------------------------------------------------------------------
# Owned by the ingest work (tracehop/ingest). Keep the body thin.


# --- lookup ---------------------------------------------------------------------------------
# Owned by the matcher work (tracehop/match).


# --- compact --------------------------------------------------------------------------------
# Owned by the store work (tracehop/store).


# --- respond / audit ------------------------------------------------------------------------
# Owned by the respond work (tracehop/respond).


# --- serve / token --------------------------------------------------------------------------
# Owned by the service work (tracehop/respond/service.py).


# --- demo -----------------------------------------------------------------------------------
# Owned by the demo work (tracehop/sim, tracehop/chain).


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tracehop")


if __name__ == "__main__":  # pragma: no cover
    main()
