"""RecordingService, the one library behind every transport, and the answers it gives."""

from screenrec.service.admin import Download, Health, Inspection, PurgePlan
from screenrec.service.core import RecordingService
from screenrec.service.final import describe_ffmpeg_warnings, plan_final

__all__ = [
    "Download",
    "Health",
    "Inspection",
    "PurgePlan",
    "RecordingService",
    "describe_ffmpeg_warnings",
    "plan_final",
]
