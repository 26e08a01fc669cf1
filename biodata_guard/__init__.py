"""biodata_guard: catch the silent data bugs that ruin machine learning on biological data."""

from biodata_guard.audit import audit
from biodata_guard.config import AuditConfig, load_config
from biodata_guard.errors import ConfigError, GuardError, InputError
from biodata_guard.findings import Finding, Report, Severity

__version__ = "0.1.0"

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
]
