"""The catalogue of services that accept the card (M-16, M-23.1): each department's items, kept by
the department through the signed partner API (role ``catalogue``), versioned; searched by
citizens, exported as open data, checked for consistency by supervisors (docs/service-catalogue.md)."""
