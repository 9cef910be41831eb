"""Signals the Slack side sends; the delivery pipeline connects to them (it holds and resumes work).

Both are sent after the change is committed (transaction.on_commit). Receivers run on the request or task
that made the change, so they must be quick: enqueue real work rather than doing it.
"""

from django.dispatch import Signal

# The tenant's installation became usable: first install, reinstall (also after a revocation) or
# `connect_slack`. kwargs: tenant, installation, was_revoked (bool: it had been revoked before).
# The pipeline resumes deliveries it held for the tenant's Slack (resume_slack_holds).
installation_reactivated = Signal()

# The tenant's installation stopped working: uninstalled from the UI, app_uninstalled / tokens_revoked
# from Slack, or a call answered with an "installation dead" error. kwargs: tenant, installation, reason.
installation_revoked = Signal()

# Someone opened the app's Home tab (Events API app_home_opened). kwargs: team_id, user_id. Sent on the
# events request itself: the receiver must only enqueue (the pipeline publishes the view from a task).
app_home_opened = Signal()
