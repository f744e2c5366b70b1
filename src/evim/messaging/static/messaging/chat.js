// The back office's chat: Converse.js, logged in by itself through evim's gateway.
//
// The page holds the settings as JSON (#evim-chat-config, written by the messaging module
// for users with a Jabber account): no inline script, no password. Converse fetches the
// user's JID and a one-time token from credentials_url on every (re)connection, and speaks
// XMPP over the site's own WebSocket (/im/ws), which relays to the user's server.
const element = document.getElementById("evim-chat-config");

// While it is not connected, Converse shows a login form, its logo, links and (full page)
// its sponsors' logos from the internet. Here the login is automatic: a short notice instead.
function offlineNotice(text) {
  return class extends HTMLElement {
    connectedCallback() {
      this.classList.add("evim-chat-offline");
      this.setAttribute("role", "status");
      this.textContent = text;
    }
  };
}

// An element that shows nothing (each custom element name needs a class of its own).
const nothing = () => class extends HTMLElement {};

if (element) {
  const config = JSON.parse(element.textContent);
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const { default: converse } = await import(config.script);
  converse.plugins.add("evim-chat", {
    initialize() {
      const { api } = this._converse;
      api.elements.define("converse-login-form", offlineNotice(config.texts.not_connected));
      api.elements.define("converse-brand-logo", nothing());
      api.elements.define("converse-controlbox-navbar", nothing());
      api.elements.define("converse-footer", nothing());
      // In the rooms, the user's name (unless they reserved a nickname on the server).
      api.listen.on("getNicknameForMUC", (muc, nick) => nick || config.nickname);
    },
  });
  converse.initialize({
    whitelisted_plugins: ["evim-chat"],
    view_mode: config.view_mode,
    i18n: config.language,
    assets_path: config.assets_path,
    // Logging in: the gateway's token as the password, the gateway's WebSocket only.
    authentication: "login",
    auto_login: true,
    credentials_url: config.credentials_url,
    websocket_url: `${scheme}//${window.location.host}${config.websocket_path}`,
    discover_connection_methods: false,
    allow_logout: false,
    allow_registration: false,
    // Rooms of project.yml's messaging.chatrooms, under the user's name. Given as bare
    // addresses: Converse then keeps a room's state (open, minimised) from page to page.
    nickname: config.nickname,
    auto_join_rooms: config.rooms,
    auto_register_muc_nickname: false,
    // Converse bookmarks every room it enters ("autojoin") and, by default, shows each such
    // room again on every page load, even one the user minimised: not in a back office.
    muc_respect_autojoin: false,
    // Nothing from elsewhere: no provider lists, no embedded players or remote media.
    autocomplete_providers_url: "",
    xmpp_providers_url: "",
    embed_3rd_party_media_players: false,
    render_media: false,
    fetch_url_headers: false,
    // OMEMO (needs WebAssembly, GPL-3.0 library), in-band registration, push: not offered.
    blacklisted_plugins: [
      "converse-omemo",
      "converse-omemo-views",
      "converse-register",
      "converse-push",
    ],
    show_controlbox_by_default: config.view_mode === "fullscreen",
    sticky_controlbox: config.view_mode === "fullscreen",
    loglevel: "warn",
  });
}
