"""The SMS channel: an inbound SMS in, its replies queued in the message log.

`router` stores the SMS, finds the keyword and calls the handler of the
caller's role (`anyone`, `client`, `worker`, `clinic`, registered in the
router's table); `context` is what a handler gets and how it replies;
`inbox.receive` is where every gateway's SMS come in: stored, answered and
committed in a transaction of their own."""
