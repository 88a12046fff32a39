"""``python -m xbrun``: the ``xbrun`` command (what torchrun and ``distributed.nproc`` start)."""

from .cli import main

main()
