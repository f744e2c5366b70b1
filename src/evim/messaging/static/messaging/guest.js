// A guest's chat (anonymous mode): Converse.js showing one room, under the nickname chosen on
// the guest page, logged in by itself through evim's gateway for guests.
//
// The page holds the settings as JSON (#evim-guest-config): no inline script, no secret.
// Converse fetches a one-time token from credentials_url on every (re)connection and speaks
// XMPP over the site's own WebSocket for guests, which logs in to the anonymous host.
const element = document.getElementById("evim-guest-config");

function notice(text, name) {
  return class extends HTMLElement {
    connectedCallback() {
      this.classList.add("evim-chat-offline");
      this.setAttribute("role", "status");
      if (name) this.dataset.chat = name;
      this.textContent = text;
    }
  };
}

if (element) {
  const config = JSON.parse(element.textContent);
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  let ended = false;
  // The link stopped working (revoked, expired, anonymous mode off): say so, and stop.
  const showEnded = () => {
    if (ended) return;
    ended = true;
    const root = document.querySelector("converse-root");
    const message = document.createElement("p");
    message.className = "evim-chat-logged-out-notice";
    message.dataset.chat = "guest-ended";
    message.setAttribute("role", "alert");
    message.textContent = config.texts.ended;
    (root?.parentElement ?? document.body).append(message);
    root?.remove();
  };
  const { default: converse } = await import(config.script);
  converse.plugins.add("evim-guest", {
    initialize() {
      const { api } = this._converse;
      api.elements.define("converse-login-form", notice(config.texts.not_connected));
      api.elements.define("converse-brand-logo", class extends HTMLElement {});
      api.elements.define("converse-footer", class extends HTMLElement {});
      api.listen.on("getNicknameForMUC", () => config.nickname);
      api.listen.on("beforeFetchLoginCredentials", (context, xhr) => {
        xhr.addEventListener("load", () => {
          if (xhr.status >= 400) showEnded();
        });
        return xhr;
      });
      let attempts = 0;
      api.listen.on("connected", () => {
        attempts = 0;
      });
      api.listen.on("disconnected", () => {
        if (ended) return;
        const delay = Math.min(1000 * 2 ** attempts, 10_000);
        attempts += 1;
        setTimeout(() => api.user.login(), delay);
      });
    },
  });
  converse.initialize({
    whitelisted_plugins: ["evim-guest"],
    view_mode: "embedded",
    singleton: true,
    auto_join_rooms: [{ jid: config.room, nick: config.nickname }],
    i18n: config.language,
    assets_path: config.assets_path,
    authentication: "login",
    auto_login: true,
    credentials_url: config.credentials_url,
    websocket_url: `${scheme}//${window.location.host}${config.websocket_path}`,
    discover_connection_methods: false,
    allow_logout: false,
    allow_registration: false,
    nickname: config.nickname,
    auto_register_muc_nickname: false,
    muc_nickname_from_jid: false,
    autocomplete_providers_url: "",
    xmpp_providers_url: "",
    embed_3rd_party_media_players: false,
    render_media: false,
    fetch_url_headers: false,
    blacklisted_plugins: [
      "converse-omemo",
      "converse-omemo-views",
      "converse-register",
      "converse-push",
    ],
    show_desktop_notifications: false,
    play_sounds: false,
    auto_reconnect: true,
    enable_smacks: false,
    show_controlbox_by_default: false,
    loglevel: "warn",
  });
}
