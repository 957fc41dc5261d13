"""Exit statuses of every plexfm command, and the line for output that cannot be written."""

import errno

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130


# what writing the output can fail with (stdout redirected to a full disk, a quota, a bad
# medium), seen by cli.main without a file name: every file a command opens names itself, and
# its own errors are caught where it writes
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def output_failed(exc: OSError) -> str:
    """The line for output that cannot be written (stdout on a full disk): no traceback."""
    return f"plexfm: cannot write the output: {exc.strerror or exc}"
