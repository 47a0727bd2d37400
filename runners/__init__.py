"""Each module talks to one execution backend; none touches Axon's database."""
