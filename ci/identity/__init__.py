"""Who asks and what they may do: users, orgs, teams, roles, personal access tokens, the policy
table that every route declares its need in, and the audit log of changes."""
