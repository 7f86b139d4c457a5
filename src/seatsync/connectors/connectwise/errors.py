"""What the shared HTTP policy (``connectors.http``) needs to know about ConnectWise, and the rights it names."""

from __future__ import annotations

import enum

from seatsync.connectors.http import CONNECTWISE_HOSTS, RemoteSystem

SYSTEM = "ConnectWise"

CONNECTWISE = RemoteSystem(
    name=SYSTEM,
    public_hosts=CONNECTWISE_HOSTS,
    address="site",
    example="api-na.myconnectwise.net",
    unauthorized="check the company id, public and private key, and that the API member is not inactive",
    forbidden="the API member's security role lacks a right this call needs; grant it in System › Security Roles",
    lacks_right="the API member's security role lacks the security-role setting {right}; grant it in "
    "System › Security Roles",
)


class Right(enum.StrEnum):
    """Security-role settings (System › Security Roles) the billing integration needs, as ConnectWise names them."""

    COMPANY_INQUIRE = "Companies › Company Maintenance › Inquire Level (All)"
    ATTACHMENTS_ADD = "Companies › Manage Attachments › Add Level (All)"
    ATTACHMENTS_INQUIRE = "Companies › Manage Attachments › Inquire Level (All)"
    AGREEMENTS_INQUIRE = "Finance › Agreements › Inquire Level (All)"
    AGREEMENTS_EDIT = "Finance › Agreements › Edit Level (All)"
    CATALOG_INQUIRE = "Procurement › Product Catalog › Inquire Level (All)"
    CATALOG_ADD = "Procurement › Product Catalog › Add Level (All)"
    # service-desk tickets (optional: only with a board chosen)
    TICKETS_INQUIRE = "Service Desk › Service Tickets › Inquire Level (All)"
    TICKETS_ADD = "Service Desk › Service Tickets › Add Level (All)"
    TICKETS_EDIT = "Service Desk › Service Tickets › Edit Level (All)"
