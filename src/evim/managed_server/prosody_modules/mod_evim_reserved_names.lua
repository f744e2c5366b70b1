-- In-band registration (XEP-0077) refused for reserved user names ("admin", "root"…),
-- loaded by evim's managed Prosody on its main host while registration is allowed.
--
-- Option: evim_reserved_usernames (a list; compared after nodeprep, case folded).

local nodeprep = require "util.encodings".stringprep.nodeprep;

local reserved = {};
for _, name in ipairs(module:get_option_array("evim_reserved_usernames", {})) do
	reserved[nodeprep(name) or name] = true;
end

module:hook("user-registering", function (event)
	if reserved[event.username] then
		event.allowed = false;
		event.reason = "This user name is reserved: choose another one";
		event.error_type, event.error_condition = "cancel", "not-allowed";
	end
end, 10);
