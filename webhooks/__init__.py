"""Pure: verify and parse webhook deliveries into Events. Imports no Flask and no database."""
