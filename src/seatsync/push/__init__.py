"""The push engine: one place that sends billable counts to ConnectWise (and, later, Gradient)."""
