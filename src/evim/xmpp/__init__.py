"""The XMPP work done by evim itself (slixmpp): where a JID's server is, logging in to test
an account.  Used by the messaging module; knows nothing of the back office."""
