"""Each module talks to one report target; none touches Axon's database."""
