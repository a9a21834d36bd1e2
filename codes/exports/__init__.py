"""Big exports made by a worker and mailed as a link (docs/EXPORTS.md)."""
