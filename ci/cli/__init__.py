"""The `axon` command (`commands`): process entry points, the REST API's client (`client`),
`axon check` / `axon schema` (`spec`), and the README's generated settings tables
(`settings_table`). Commands import what they run inside themselves, so `axon --help` and the
client commands start without loading the server.
"""
