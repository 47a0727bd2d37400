"""A project's connections: their secret values encrypted at rest (`crypto`), checked and
written (`records`), re-encrypted with the newest key (`rotation`), and opened only when a run
is launched, into what its runner mounts (`mounts`)."""
