"""Exit codes and the usage error of the CLI, light enough for ``certmail --help``."""

from __future__ import annotations

#: Exit codes of ``certmail bulk`` / ``resume`` / ``status`` (documented in ``--help``).
EXIT_OK = 0  # every recipient sent
EXIT_ERROR = 1  # the journal cannot be used, or another error
EXIT_USAGE = 2  # bad options, unknown job id, input that is not this job's (JobMismatchError)
EXIT_FAILED = 3  # finished, but some recipients failed (their own fault; --retry-failed)
EXIT_UNKNOWN = 4  # some sends may or may not have happened (resume, or --retry-unknown)
EXIT_STOPPED = 5  # stopped with chunks pending (account error, outage, unsettled send)
EXIT_LOCKED = 6  # another live runner owns the job (--wait to wait for it)

EXIT_CODES_HELP = (
    "Exit codes: 0 every recipient sent; 3 some failed; 4 some unknown (may have been sent); "
    "5 stopped with chunks pending; 6 job locked by another runner; 2 usage or unknown job; "
    "1 journal unusable."
)


class UsageError(Exception):
    """A command-line mistake: the CLI prints it and exits with EXIT_USAGE."""
