"""The XMPP gateway: the browser's XMPP stream, same origin, relayed to the user's server.

The browser gets a short-lived single-use token instead of the Jabber password; the gateway
checks it, authenticates upstream with the stored credentials, then relays the stream.
"""
