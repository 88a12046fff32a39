"""Which config errors of a sweep belong to one job rather than to the whole command.

A sweep over config groups (``device=sgd,ttv2``) often sets a key that only some of the
swept options have (``++device.transfer_update.desired_bl=31``: ttv2 has it, sgd does not).
Users expect the jobs that can take the key to run, and the others to be reported; a value
that every choice rejects (``lr=-2``) is still a mistake in the command.
"""

from __future__ import annotations

from .errors import ConfigError


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def per_job_failures(combos: list[list[str]], errors: dict[int, str],
                     group_options) -> list[str]:
    """Notes for the jobs that will fail on their own; ConfigError when an error is the
    command's. ``errors`` maps a job index of ``combos`` to its one-line error;
    ``group_options(key)`` lists a config group's options (empty: not a group)."""
    for index in errors:
        combo = combos[index]
        swept = [i for i, o in enumerate(combo) if group_options(_key(o))
                 and len({c[i] for c in combos}) > 1]
        fixed = [i for i in range(len(combo)) if i not in swept]
        siblings = [j for j in range(len(combos))
                    if all(combos[j][i] == combo[i] for i in fixed)]
        # another job with the same non-group overrides composes: the group choice is at fault
        if not swept or all(j in errors for j in siblings):
            groups = {_key(combo[i]) for i in swept}
            # name the error that is not about a swept group's own keys, if there is one
            raise ConfigError(min((errors[j] for j in siblings),
                                  key=lambda m: m.split(".")[0].split(":")[0] in groups))
    notes = []
    for index, message in sorted(errors.items()):
        choices = " ".join(o for o in combos[index] if group_options(_key(o)))
        notes.append(f"job {choices}: {message}; it will be recorded as failed, "
                     f"the other jobs run")
    return notes
