"""`@every <duration>` or a cron expression -> the next run time."""

from datetime import datetime

from croniter import croniter

from portal.durations import parse_duration


def validate_schedule(schedule: str) -> None:
    """Raises ValueError with a message a person can act on."""
    if schedule.startswith("@every "):
        if parse_duration(schedule[7:]).total_seconds() < 10:
            raise ValueError("schedule: @every must be at least 10s")
        return
    if not croniter.is_valid(schedule):
        raise ValueError(f"schedule: {schedule!r} is neither '@every <duration>' nor a cron line")


def next_run(schedule: str, after: datetime) -> datetime:
    if schedule.startswith("@every "):
        return after + parse_duration(schedule[7:])
    return croniter(schedule, after).get_next(datetime)
