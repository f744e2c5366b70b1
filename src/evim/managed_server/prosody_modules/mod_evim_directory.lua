-- evim's user directory (XEP-0055 Jabber Search), loaded by evim's managed Prosody as a
-- component ("evim_directory"): the users of the main host found by name.
--
-- Names are what clients show: the full name evim publishes for each account (vCard 4
-- "fn" and "nickname" in the user's PEP node urn:xmpp:vcard4, also what a client edits),
-- and the account's user name.  Every word searched must be in one of them (case
-- folded).  Only users of the main host may search: not guests of an anonymous host, not
-- other servers.
--
-- Options (component section): evim_directory_host (the main host, required),
-- evim_directory_max_results (50).

local st = require "util.stanza";
local jid_split = require "util.jid".split;
local usermanager = require "core.usermanager";
local nameprep = require "util.encodings".stringprep.nameprep;

local SEARCH = "jabber:iq:search";
local VCARD4_NODE = "urn:xmpp:vcard4";

local main_host = assert(module:get_option_string("evim_directory_host"),
	"evim_directory_host is required");
local max_results = module:get_option_number("evim_directory_max_results", 50);

module:depends("disco");
module:add_identity("directory", "user", module:get_option_string("name", "User directory"));
module:add_feature(SEARCH);

-- Lower case and normal form of each word (nameprep folds case beyond ASCII).
local function fold(text)
	local words = {};
	for word in text:gmatch("%S+") do
		words[#words + 1] = nameprep(word) or word:lower();
	end
	return table.concat(words, " ");
end

-- The names a user is known by: full name and nickname from the vCard 4 in PEP.
local function names_of(username)
	local pep = prosody.hosts[main_host] and prosody.hosts[main_host].modules.pep;
	if not pep then return nil end
	local service = pep.get_pep_service(username);
	local ok, _, item = service:get_last_item(VCARD4_NODE, true);
	if not (ok and item and item.tags[1]) then return nil end
	local vcard = item.tags[1];
	local full_name, nickname;
	for tag in vcard:childtags() do
		if tag.name == "fn" then full_name = tag:get_child_text("text") end
		if tag.name == "nickname" then nickname = tag:get_child_text("text") end
	end
	return full_name, nickname;
end

local function matches(haystack, terms)
	for _, term in ipairs(terms) do
		if not haystack:find(term, 1, true) then return false end
	end
	return true;
end

local function search_form(stanza)
	return st.reply(stanza):query(SEARCH)
		:text_tag("instructions", "Type part of a colleague's name.")
		:tag("first"):up()
		:tag("last"):up()
		:tag("nick"):up();
end

module:hook("iq/host/" .. SEARCH .. ":query", function (event)
	local origin, stanza = event.origin, event.stanza;
	if origin.type ~= "c2s" or origin.host ~= main_host then
		origin.send(st.error_reply(stanza, "auth", "forbidden",
			"Only the users of " .. main_host .. " may search its directory"));
		return true;
	end
	if stanza.attr.type == "get" then
		origin.send(search_form(stanza));
		return true;
	end
	local query = stanza.tags[1];
	local terms = {};
	for _, field in ipairs({ "first", "last", "nick", "email" }) do
		local text = query:get_child_text(field);
		if text then
			for word in fold(text):gmatch("%S+") do
				if #word >= 2 then terms[#terms + 1] = word end
			end
		end
	end
	if #terms == 0 then
		origin.send(st.error_reply(stanza, "modify", "not-acceptable",
			"Type at least two letters of a name"));
		return true;
	end
	local reply = st.reply(stanza):query(SEARCH);
	local found = 0;
	for username in usermanager.users(main_host) do
		local full_name, nickname = names_of(username);
		local known = fold((full_name or "") .. " " .. (nickname or "") .. " " .. username);
		if matches(known, terms) then
			local name = full_name or nickname or username;
			local first, last = name:match("^(%S+)%s+(.+)$");
			reply:tag("item", { jid = username .. "@" .. main_host })
				:text_tag("first", first or name)
				:text_tag("last", last or "")
				:text_tag("nick", name)
				:text_tag("email", "")
				:up();
			found = found + 1;
			if found >= max_results then break end
		end
	end
	origin.send(reply);
	return true;
end);
