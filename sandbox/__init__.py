"""Stand-ins for FreshBooks and Slack: run as their own processes, they let ml-connector be tried and
tested end to end without any provider account."""
