"""Names of the temporary files outputs are written under, and the removal of those that
killed writers left behind.

A temporary is ``.NAME.tmp-HOST-PID-TOKEN`` beside the output ``NAME``: the writer's host
and process id tell a later run whether its writer still lives.
"""

import os
import re
import secrets
import socket
import stat
import time

__all__ = ["temporary_name", "remove_stale_temporaries", "STALE_AGE"]

#: seconds after which a temporary whose writer cannot be checked (another host, or the
#: old name without host and pid) counts as left behind
STALE_AGE = 24 * 3600


def _host():
    return re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname())[:64] or "host"


def temporary_name(path):
    """A fresh hidden temporary beside ``path``: ``.NAME.tmp-HOST-PID-TOKEN``.

    The host and process id of the writer (rank 0) let a later run tell a temporary
    left by a killed job from one being written (:func:`remove_stale_temporaries`).
    """
    folder, base = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{base}.tmp-{_host()}-{os.getpid()}-"
                                f"{secrets.token_hex(4)}")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:        # EPERM: someone else's process
        return True
    return True


def remove_stale_temporaries(path, now=None):
    """Delete the temporaries of ``path`` that killed writers left behind; return their names.

    Only hidden files named ``.NAME.tmp-…`` beside ``path`` are considered. One from
    this host is stale when its writer's process no longer exists; one from another host,
    or with the older name without host and pid, when it was last modified more than
    :data:`STALE_AGE` seconds ago (a live writer keeps writing to it). Run it on one rank.
    """
    folder, base = os.path.split(os.fspath(path))
    folder = folder or os.curdir
    pattern = re.compile(rf"^\.{re.escape(base)}\.tmp-(?:(?P<host>.+)-(?P<pid>\d+)-)?"
                         rf"[0-9a-f]{{8}}$")
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        if not m:
            continue
        full = os.path.join(folder, name)
        try:
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                continue
            if m.group("host") == _host():
                stale = not _pid_alive(int(m.group("pid")))
            else:
                stale = now - st.st_mtime > STALE_AGE
            if stale:
                os.unlink(full)
                removed.append(name)
        except OSError:
            continue
    return removed
