-- Sessions of this host only through Prosody's WebSocket, that is through evim's gateway
-- (Prosody's HTTP listener is on loopback only): loaded on the anonymous host, so that a
-- client reaching the client-to-server port (open to external clients when
-- EVIM_XMPP_HOST is set) cannot log in as a guest there, out of reach of the gateway's
-- guest rules (one room, rate limits).

module:hook("stream-features", function (event)
	local session = event.origin;
	if not session.websocket_request then
		session:close({
			condition = "policy-violation";
			text = "Guests connect through evim's guest page only";
		});
		return true;
	end
end, 1000);
