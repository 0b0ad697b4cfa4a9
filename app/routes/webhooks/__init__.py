"""One module per gateway's callbacks, thin: the gateway module says what they carry."""
