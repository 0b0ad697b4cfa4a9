"""The USSD channel: `engine` replays a session's answers over the screens
(`screens` are the parts; `anyone`, `client`, `worker`, `clinic` the
screens of each role)."""
