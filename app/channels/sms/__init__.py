"""The SMS channel: an inbound SMS in, its replies queued in the message log.

`router` stores the SMS, finds the keyword and calls the handler of the
caller's role (`anyone`, `client`, `worker`, `clinic`, registered in the
router's table); `context` is what a handler gets and how it replies;
`inbox` handles the SMS of concurrent webhooks in one transaction."""
