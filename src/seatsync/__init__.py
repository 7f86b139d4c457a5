"""seatsync: count each client company's billable users and push them into PSA billing systems."""

__version__ = "0.1.0"
