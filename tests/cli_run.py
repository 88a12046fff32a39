"""``xbrun ARGS`` run in the test's process, for the tests of the command line."""

from xbrun.cli import main


def run_cli(args, capsys):
    """``(exit status, captured output)`` of ``xbrun ARGS``: the ``SystemExit`` code, or 0
    when the command returns; output captured before the call is dropped."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr()
