"""Pure: (event, subscriptions) -> decisions with reasons. No IO, no database."""
