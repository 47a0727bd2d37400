"""The store: the tables (`models`), the engine and the unit of work (`db`), and the schema's
migrations (`migrate`, `migrations/`). Every room that keeps state reads and writes it here;
the store imports no other room.
"""
