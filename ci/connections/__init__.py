"""A project's connections: their secret values encrypted at rest (`crypto`), checked and
written (`records`), re-encrypted with the newest key (`rotation`), and opened only when a run
is launched, into what its runner mounts (`mounts`), when a hook sends (`targets`), or when a
webhook source that names one verifies a delivery (`signing`)."""
