"""Pure shapes shared by every folder: the spec, the Event, run statuses, errors. No IO here."""
