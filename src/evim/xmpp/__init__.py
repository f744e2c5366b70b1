"""The XMPP work done by evim itself (slixmpp): where a JID's server is, logging in to test
an account, making the spaces exist on an external server.  Used by the messaging module;
knows nothing of the back office.

- :mod:`~evim.xmpp.addresses`: server addresses (overrides, DNS SRV), :class:`ServerLocator`;
- :mod:`~evim.xmpp.connection_test`: "Test connection" (:func:`test_login` and friends);
- :mod:`~evim.xmpp.client`: the slixmpp client that logs in once and reports what happened;
- :mod:`~evim.xmpp.tls`: shared TLS contexts; :mod:`~evim.xmpp.log_redaction`: no password
  in slixmpp's logs; :mod:`~evim.xmpp.isolated`: one event loop per short job;
- :mod:`~evim.xmpp.checks`: system checks ``xmpp.E001``/``xmpp.E002``;
- :mod:`~evim.xmpp.spaces`: the three spaces on an external server, done in the users' own
  sessions (:mod:`~evim.xmpp.session`): contacts (:mod:`~evim.xmpp.roster_sync`),
  bookmarks (:mod:`~evim.xmpp.bookmarks`), rooms (:mod:`~evim.xmpp.room_admin`); the
  vocabulary shared with the managed server's sync in :mod:`~evim.xmpp.spaces_plan`.
"""
