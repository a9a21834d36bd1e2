"""Staff notifications: the daily digest of who joined, each admin's choice of
it, its one-click unsubscribe (RFC 8058), and the deliveries given up."""
