"""The delivery pipeline: inbound event -> FinancialEvent -> rules -> deliveries -> paced Slack posts."""
