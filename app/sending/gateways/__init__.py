"""One module per SMS gateway: its fields, its status table, its send."""
