"""The signed-in landing page: setup checklist, connection status, charts and what needs a fix."""
