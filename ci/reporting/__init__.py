"""Reporting: a run's status told to every target that wants it, within each target's budget.

`reports` builds one report per status change and hands it to the targets in order;
`recipients` says which targets hear of a status, with what report and which receipt;
`attempts` records each try and is the only writer of a notification's state; `run_hooks`
reads Polyaxon's `hooks` and `plugins.notifications`; `comparison` puts a pull request's
outputs beside the base branch's. The notifiers themselves live in the top-level `notifiers`
package.
"""
