"""`ims-portal`, the portal's command-line client. It talks HTTP to the REST API only and
imports nothing of Django or of the rest of the portal (a test walks its imports)."""
