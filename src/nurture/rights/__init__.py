"""The lead's rights: everything held on a lead (``held``), exported (``export``) or erased
(``forget``), and the CRM API for both (``routes``)."""
