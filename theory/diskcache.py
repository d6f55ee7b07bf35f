r"""A persistent on-disk cache of SymPy derivations, shared by processes and runs.

A derivation (the second-moment recursion of :func:`theory.derive`, the fourth-moment
recursion of :func:`theory.derive_fourth`, the secular terms of the thresholds) is a pure
function of its arguments and of the package's source. Every worker process of
``python -m verify run`` used to repeat it; with this cache the first process to finish a
derivation writes the result (pickled SymPy objects) and every later process or run loads
it in milliseconds instead of re-deriving it in seconds.

Key: the function's name and ``repr`` of its arguments, hashed together with a digest of the
source files of the ``theory`` package and the versions of Python and SymPy, so that any
change of the code or of SymPy invalidates every entry (no stale derivation is ever loaded).
Entries are written atomically (temporary file, then ``os.replace``); an entry that cannot be
read is deleted and recomputed. A derivation missing from the cache is computed by one process at
a time: the others (e.g. the two workers of ``python -m verify run``, which start on claims of the
same family) wait on a lock file next to the entry (``fcntl.flock``, released by the operating
system if its holder dies) and then load the entry instead of deriving it again; after
``LOCK_TIMEOUT`` seconds of waiting a process derives it itself.

Location: ``$SGDCHECK_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/sgdcheck`` (default
``~/.cache/sgdcheck``). ``SGDCHECK_CACHE_DIR=off`` (or ``0``, ``none``) disables it; so does a
directory that cannot be created or written (the derivation then simply runs). Entries are
pickles, which run code when loaded: the cache is used only if the directory and the digest
directory inside it belong to the current user and are not writable by group or others
(otherwise derivations run and are kept in memory only).

Example
-------
>>> from theory.diskcache import persistent
>>> @persistent
... def square(n):
...     return n * n
>>> square(12)
144
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

from .sympickle import dumps

try:
    import fcntl
except ImportError:  # pragma: no cover - no POSIX locks (Windows): processes may derive the same entry
    fcntl = None

__all__ = ["cache_dir", "persistent", "source_digest"]

_OFF = {"off", "0", "none", "false", "no"}
#: seconds a process waits for another one deriving the same entry before deriving it itself
LOCK_TIMEOUT = 300.0


@functools.cache
def source_digest() -> str:
    """sha256 over the ``theory`` package's source files, the Python and SymPy versions."""
    import sympy
    root = Path(__file__).resolve().parent
    h = hashlib.sha256(f"{sys.version_info[:3]} sympy {sympy.__version__}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def cache_dir() -> Path | None:
    """The cache directory of this source digest, or None when the cache is off or unusable."""
    env = os.environ.get("SGDCHECK_CACHE_DIR")
    if env is not None and env.strip().lower() in _OFF:
        return None
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sgdcheck"
    path = base / source_digest()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    if not all(_private(p) for p in (base, path)):
        return None
    return path if os.access(path, os.W_OK) else None


def _private(path: Path) -> bool:
    """True if ``path`` belongs to this user and no one else may write to it (entries are pickles,
    which run code when loaded: a directory another user can write to is never read)."""
    if not hasattr(os, "getuid"):  # no POSIX ownership (Windows): rely on the user profile's ACLs
        return True
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and not (st.st_mode & 0o022)


def _load(path: Path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


_MISSING = object()


def _read(path: Path):
    """The entry at ``path``, or ``_MISSING`` (absent, or unreadable: then it is deleted)."""
    if not path.exists():
        return _MISSING
    try:
        return _load(path)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError,
            TypeError, ValueError):   # a truncated or foreign file: recompute and replace it
        try:
            path.unlink()
        except OSError:
            pass
        return _MISSING


@contextlib.contextmanager
def _exclusive(lock: Path):
    """Hold an exclusive lock on the file ``lock`` (created if needed) for the block; wait at most
    ``LOCK_TIMEOUT`` seconds for it. Without ``fcntl`` or a usable lock file the block runs unlocked."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600) if fcntl is not None else None
    except OSError:
        fd = None
    try:
        if fd is not None:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                except OSError:
                    break
        yield
    finally:
        if fd is not None:
            os.close(fd)     # releases the lock


def _store(path: Path, value) -> None:
    try:
        data = dumps(value)   # SymPy sums, products and powers load without re-canonicalisation
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return   # not picklable (e.g. a lambda inside): keep it in memory only
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except OSError:
        return   # a read-only or full cache directory: the value stays in memory only
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _describe(arg):
    """A canonical text of ``arg`` for the key, or None if it may not determine the result.

    Classes and the types of objects must come from the ``theory`` package (a user's class of
    the same name in another script could carry other rules); SymPy objects are written with
    ``srepr`` (which records symbol assumptions); tuples element by element.
    """
    import sympy as sp
    if isinstance(arg, tuple):
        parts = [_describe(a) for a in arg]
        return None if any(p is None for p in parts) else "(" + ", ".join(parts) + ",)"
    if isinstance(arg, sp.Basic):
        return sp.srepr(arg)
    if isinstance(arg, (int, float, str, bool, type(None))):
        return repr(arg)
    cls = arg if isinstance(arg, type) else type(arg)
    if not (cls.__module__ == "theory" or cls.__module__.startswith("theory.")):
        return None
    where = f"{cls.__module__}.{cls.__qualname__}"
    return where if isinstance(arg, type) else f"{where}:{arg!r}"


def persistent(func):
    """Decorator: memoise ``func`` in memory and on disk (see the module docstring).

    The arguments must be hashable and determine the result: the package's algorithms and
    data-model types, numbers, strings, tuples and SymPy expressions (other arguments, e.g. a
    user's own classes, are memoised in memory only); the result must be picklable (else it
    is kept in memory only).
    """
    name = f"{func.__module__}.{func.__qualname__}"

    @functools.cache
    @functools.wraps(func)
    def wrapper(*args):
        text = _describe(args)
        where = cache_dir() if text is not None else None
        if where is None:
            return func(*args)
        key = hashlib.sha256(f"{name}{text}".encode()).hexdigest()[:32]
        path = where / f"{key}.pkl"
        found = _read(path)
        if found is not _MISSING:
            return found
        with _exclusive(where / f"{key}.lock"):
            found = _read(path)          # derived by another process while this one waited
            if found is not _MISSING:
                return found
            value = func(*args)
            _store(path, value)
        return value
    return wrapper
