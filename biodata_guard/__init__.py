"""biodata_guard: catch the silent data bugs that ruin machine learning on biological data.

The public surface is small: :func:`audit` returns a :class:`Report` of :class:`Finding` objects;
problems with the call or the input raise :class:`InputError` / :class:`ConfigError` (both
:class:`GuardError` and ``ValueError``); :mod:`biodata_guard.registry` lists every check. The
check functions themselves live in one package per concern (``biodata_guard.leakage`` ...).
"""

from biodata_guard import registry
from biodata_guard._version import __version__
from biodata_guard.audit import audit
from biodata_guard.config import AuditConfig, load_config
from biodata_guard.errors import ConfigError, GuardError, InputError
from biodata_guard.findings import Finding, Report, Severity

__all__ = [
    "AuditConfig",
    "ConfigError",
    "Finding",
    "GuardError",
    "InputError",
    "Report",
    "Severity",
    "__version__",
    "audit",
    "load_config",
    "registry",
]
