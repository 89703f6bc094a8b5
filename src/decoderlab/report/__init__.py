"""Sweep reports: ``decoderlab-report SWEEP_DIR`` and the end-of-multirun Hydra callback."""

from decoderlab.report.build import Report, main, write_report
from decoderlab.report.sweep import NoRunsError

__all__ = ["NoRunsError", "Report", "main", "write_report"]
