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

// The service's header at the top of the chat's rooms and contacts (the administrators'
// service settings): its name and description, an announcement, who runs it and its terms,
// and for administrators a link to the settings. It takes the place of Converse's list of
// headline feeds, which evim's users do not have.
function serviceHeader(service) {
  const add = (parent, tag, className, text) => {
    const child = document.createElement(tag);
    child.className = className;
    if (text) child.textContent = text;
    parent.append(child);
    return child;
  };
  const link = (parent, href, text, name) => {
    const anchor = add(parent, "a", "", text);
    anchor.href = href;
    anchor.rel = "noopener";
    anchor.dataset.service = name;
    return anchor;
  };
  return class extends HTMLElement {
    connectedCallback() {
      if (this.childElementCount) return;
      const header = add(this, "div", "evim-service");
      header.dataset.service = "header";
      add(header, "p", "evim-service-name", service.name).dataset.service = "name";
      if (service.description) {
        add(header, "p", "evim-service-description", service.description);
      }
      if (service.announcement) {
        const banner = add(header, "p", "evim-service-announcement", service.announcement);
        banner.setAttribute("role", "note");
        banner.dataset.service = "announcement";
      }
      const about = add(header, "p", "evim-service-about");
      if (service.owner_name) {
        if (service.owner_site) link(about, service.owner_site, service.owner_name, "owner");
        else add(about, "span", "", service.owner_name);
      }
      if (service.terms_url) link(about, service.terms_url, service.terms_label, "terms");
      if (service.manager_url) link(about, service.manager_url, service.manager_label, "manager");
      if (!about.childElementCount) about.remove();
    }
  };
}

// The chat bar's button (Converse's "Chat" while the bar is closed) says the service's name.
// Its text is replaced in the text node lit rendered, which lit keeps and compares with
// the value it would render ("Chat", unchanged): it never writes it back.
function namedToggle(Toggle, name) {
  return class extends Toggle {
    updated(changed) {
      super.updated?.(changed);
      const button = this.querySelector(".toggle-controlbox");
      const label = this.querySelector(".toggle-feedback");
      if (!button || !label) return;
      button.title = name;
      for (const node of label.childNodes) {
        if (node.nodeType === Node.TEXT_NODE && node.data.trim()) node.data = name;
      }
    }
  };
}

// An element that shows nothing (each custom element name needs a class of its own).
const nothing = () => class extends HTMLElement {};

// Desktop notifications: the browser's permission is asked only on a gesture of the user
// (the profile page's switch and button below), never by Converse on connection — which
// it does by default, unasked, on every page of every user.
const askPermission =
  "Notification" in window
    ? Notification.requestPermission.bind(Notification)
    : () => Promise.resolve("denied");
if ("Notification" in window) {
  Notification.requestPermission = () => Promise.resolve(Notification.permission);
}

// The profile page's "desktop notifications" preference (messaging/profile_section.html).
function notificationSettings(form) {
  const box = form.querySelector("input[name=desktop_notifications]");
  const allow = form.querySelector("[data-chat=allow-notifications]");
  const blocked = form.querySelector("[data-chat=notifications-blocked]");
  const permission = () => ("Notification" in window ? Notification.permission : "denied");
  const show = () => {
    allow.hidden = !(box.checked && permission() === "default");
    blocked.hidden = !(box.checked && permission() === "denied");
  };
  const ask = () => askPermission().then(show, show);
  box.addEventListener("change", () => (box.checked ? ask() : show()));
  allow.addEventListener("click", ask);
  show();
}

// The top bar's unread count (messaging/chat_header.html): messages of one-to-one chats and
// mentions of the user in rooms, that came while the chat was not in view. Kept in
// sessionStorage as well, so that the next page shows it at once, before Converse is back.
function unreadCounter(config) {
  const link = document.querySelector("[data-chat=unread]");
  if (!link) return () => {};
  const count = link.querySelector("[data-chat=unread-count]");
  const plural = new Intl.PluralRules(config.language);
  const show = (unread) => {
    link.hidden = unread === 0;
    count.textContent = String(unread);
    const text = config.texts.unread[plural.select(unread) === "one" ? "one" : "other"];
    link.title = text.replace("%(count)s", String(unread));
    link.setAttribute("aria-label", link.title);
  };
  const cached = Number(sessionStorage.getItem(config.unread_key));
  if (cached > 0) show(cached);
  return (unread) => {
    sessionStorage.setItem(config.unread_key, String(unread));
    show(unread);
  };
}

function unreadOf(chatboxes) {
  let unread = 0;
  for (const chat of chatboxes.models) {
    const type = chat.get("type");
    // Converse counts every message of a room in num_unread_general, and in num_unread only
    // those that mention the user: a room of colleagues is a stream of news, not a to-do list.
    if (type === "chatbox" || type === "chatroom") unread += chat.get("num_unread") || 0;
  }
  return unread;
}

// Logged out (in another tab, or the session expired): the credentials URL answers 401 and
// Converse would keep an empty chat bar, trying again every two seconds. The chat hides and
// says so instead; it comes back by itself if the user logs in again in another tab.
function loggedOutNotice(text) {
  let notice = null;
  return (loggedOut) => {
    document.body.classList.toggle("evim-chat-logged-out", loggedOut);
    if (loggedOut && !notice) {
      notice = document.createElement("p");
      notice.className = "evim-chat-logged-out-notice";
      notice.dataset.chat = "logged-out";
      notice.setAttribute("role", "status");
      notice.textContent = text;
      document.body.append(notice);
    } else if (!loggedOut && notice) {
      notice.remove();
      notice = null;
    }
  };
}

// After a new session in the same page (the server restarted: no resumption), the server
// does not hand over the messages that came meanwhile (Prosody keeps them in the archive,
// not for a client that reads it), and Converse asks the archive only for the chats it has
// open. So: ask the archive who wrote since the previous connection, and open those chats;
// Converse then fetches their messages from the archive, each once.
async function openChatsWrittenSince(_converse, since) {
  const { api } = _converse;
  const { Strophe } = _converse.env;
  const own = Strophe.getBareJidFromJid(api.connection.get().jid);
  const writers = new Set();
  try {
    const found = await api.archive.query({
      mam: { start: since.toISOString() },
      rsm: { before: "", max: 100 },
    });
    for (const result of found.messages) {
      const message = result.querySelector("forwarded > message");
      if (!message || !message.querySelector("body")) continue;
      if (message.getAttribute("type") === "groupchat") continue;
      const from = Strophe.getBareJidFromJid(message.getAttribute("from") || "");
      if (from && from !== own) writers.add(from);
    }
  } catch (error) {
    console.warn("Could not ask the archive for missed messages", error);
    return;
  }
  for (const jid of writers) {
    if (!(await api.chats.get(jid))) await api.chats.open(jid, {}, false);
  }
}

// Converse's own breakpoint: below it, each chat takes the whole width of the page.
const PHONE = "(max-width: 480px)";
// What the server may have archived but not yet delivered when a connection is lost.
const MISSED_MARGIN_MS = 10_000;

// Converse counts as unread only the messages that come live. A message that came while no
// page was connected (during a page load, or while the server restarted) may first reach
// the page from the archive (Converse asks it after every page load and reconnection), and
// the same message coming live afterwards is a duplicate: it would never be counted. So a
// message created from the archive counts too when it is newer than anything the chat had
// when the page read it, and the chat is not in view. Each message is created once, so
// each is counted once, whichever way it came first.
function countMissedMessages(api) {
  const watched = new WeakSet();
  api.listen.on("afterMessagesFetched", (chat) => {
    if (watched.has(chat)) return;
    watched.add(chat);
    const newest = chat.getMostRecentMessage();
    const since = Date.parse(newest?.get("time") ?? "") || chat.get("time_opened") || 0;
    chat.messages.on("add", (message) => {
      if (
        message.get("is_archived") &&
        message.get("sender") === "them" &&
        message.get("body") &&
        Date.parse(message.get("time")) > since &&
        chat.isHidden()
      ) {
        chat.incrementUnreadMsgsCounter(message);
      }
    });
  });
}

// The service's "suggest rooms": the rooms the user has not answered yet, each with
// "Join" and "Skip". The answer is saved (messaging:room_choice) before the panel moves on;
// "Join" then opens the room. Nothing is joined without the user's click.
function roomOffers(config, openRoom) {
  const texts = config.suggest_texts;
  const panel = document.createElement("section");
  panel.className = "evim-room-offers";
  panel.dataset.chat = "room-offers";
  panel.setAttribute("aria-label", texts.title);
  const title = document.createElement("h2");
  title.textContent = texts.title;
  const intro = document.createElement("p");
  intro.textContent = texts.intro;
  const status = document.createElement("p");
  status.className = "evim-room-offers-status";
  status.setAttribute("role", "status");
  panel.append(title, intro);
  const answer = async (room, joined, row) => {
    for (const button of row.querySelectorAll("button")) button.disabled = true;
    const body = new URLSearchParams({ room, joined: joined ? "1" : "0" });
    const response = await fetch(config.room_choice_url, {
      method: "POST",
      headers: { "X-CSRFToken": config.csrf_token },
      body,
      credentials: "same-origin",
    }).catch(() => null);
    if (!response || !response.ok) {
      status.textContent = texts.failed;
      for (const button of row.querySelectorAll("button")) button.disabled = false;
      return;
    }
    status.textContent = "";
    row.remove();
    if (joined) openRoom(room);
    if (!panel.querySelector("[data-room]")) panel.remove();
  };
  for (const room of config.suggested_rooms) {
    const row = document.createElement("div");
    row.className = "evim-room-offer";
    row.dataset.room = room;
    const name = document.createElement("span");
    name.textContent = room;
    const join = document.createElement("button");
    join.type = "button";
    join.className = "button button-primary";
    join.textContent = texts.join;
    join.addEventListener("click", () => answer(room, true, row));
    const skip = document.createElement("button");
    skip.type = "button";
    skip.className = "button";
    skip.textContent = texts.skip;
    skip.addEventListener("click", () => answer(room, false, row));
    row.append(name, join, skip);
    panel.append(row);
  }
  panel.append(status);
  document.body.append(panel);
}

const preferences = document.querySelector("[data-chat=notifications-form]");
if (preferences) notificationSettings(preferences);

if (element) {
  const config = JSON.parse(element.textContent);
  const showUnread = unreadCounter(config);
  const showLoggedOut = loggedOutNotice(config.texts.logged_out);
  let loggedOut = false;
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const { default: converse } = await import(config.script);
  converse.plugins.add("evim-chat", {
    initialize() {
      const { api } = this._converse;
      api.elements.define("converse-login-form", offlineNotice(config.texts.not_connected));
      api.elements.define("converse-brand-logo", nothing());
      api.elements.define("converse-controlbox-navbar", nothing());
      api.elements.define("converse-footer", nothing());
      api.elements.define("converse-headlines-feeds-list", serviceHeader(config.service));
      const Toggle = api.elements.registry["converse-controlbox-toggle"];
      if (Toggle) {
        api.elements.define("converse-controlbox-toggle", namedToggle(Toggle, config.service.name));
      }
      // In the rooms, the user's name (unless they reserved a nickname on the server).
      api.listen.on("getNicknameForMUC", (muc, nick) => nick || config.nickname);
      api.listen.on("beforeFetchLoginCredentials", (context, xhr) => {
        xhr.addEventListener("load", () => {
          loggedOut = xhr.status === 401 || xhr.status === 403;
          showLoggedOut(loggedOut);
        });
        return xhr;
      });
      // Converse gives up when a reconnection fails, or when the server's connection is
      // lost (the gateway's "remote-connection-failed", as when Prosody restarts): log in
      // again, waiting 1, 2, 4… at most 10 seconds between attempts.
      let attempts = 0;
      let connectedSince = null;
      let lostAt = null;
      const onConnected = () => {
        attempts = 0;
        if (lostAt && !api.connection.get().hasResumed()) {
          // From a little before the connection was lost (what the server had archived
          // but not yet delivered), and not before this page's connection: what came
          // earlier was seen, and a chat the user closed since stays closed.
          const since = Math.max(connectedSince.getTime(), lostAt.getTime() - MISSED_MARGIN_MS);
          openChatsWrittenSince(this._converse, new Date(since));
        }
        connectedSince = new Date();
        lostAt = null;
      };
      api.listen.on("connected", onConnected);
      api.listen.on("reconnected", onConnected);
      // A page left while a room's history was on its way: the archive's answer reaches the
      // next page (stream management replays it) with nobody waiting for it, and Converse
      // asks the archive again after a join or a reconnection, never after a resumption.
      // So after one, each room asks for what is newer than what it holds (usually nothing).
      api.listen.on("connected", async () => {
        if (!api.connection.get().hasResumed()) return;
        await api.waitUntil("chatBoxesFetched");
        for (const room of await api.rooms.get()) room.announceReconnection();
      });
      const onLost = () => {
        if (connectedSince && !lostAt) lostAt = new Date();
      };
      api.listen.on("will-reconnect", onLost);
      api.listen.on("disconnected", () => {
        onLost();
        const delay = Math.min(1000 * 2 ** attempts, 10_000);
        attempts += 1;
        setTimeout(() => api.user.login(), delay);
      });
      // The rooms of messaging.chatrooms, joined on the first page; later pages keep each
      // room's state (open, minimised) as the user left it. On a phone Converse shows a
      // chat over the whole page: there a room is joined minimised, and opens on a tap.
      if (config.suggested_rooms.length) {
        api.waitUntil("chatBoxesFetched").then(() =>
          roomOffers(config, (jid) => api.rooms.open(jid, {}, true)),
        );
      }
      api.listen.on("chatBoxesFetched", async () => {
        const onPhone = window.matchMedia(PHONE).matches && config.view_mode === "overlayed";
        for (const jid of config.rooms) {
          if (!(await api.rooms.get(jid))) {
            await api.rooms.open(jid, onPhone ? { hidden: true } : {}, false);
          }
        }
      });
      countMissedMessages(api);
      api.waitUntil("chatBoxesFetched").then(() => {
        const { chatboxes } = this._converse.state;
        const update = () => showUnread(unreadOf(chatboxes));
        chatboxes.on("add remove change:num_unread", update);
        update();
      });
    },
  });
  // Encryption (the service's option): the OMEMO library fetches its WebAssembly (often:
  // 117 times on a first login) at __WASM_BASE__ + "curve25519_compiled.wasm", where
  // Converse sets __WASM_BASE__ beside a <script src=".../converse.min.js"> (this page
  // imports Converse under its hashed name) or else beside the page. It is kept here:
  // the file's hashed address (cached for good) then "?", which makes the plain name a
  // query string, ignored by evim's static files.
  if (config.encryption) {
    const base = `${config.omemo_wasm}?`;
    Object.defineProperty(globalThis, "__WASM_BASE__", { get: () => base, set() {} });
  }
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
    // Rooms of project.yml's messaging.chatrooms, under the user's name (joined by the
    // plugin above, on the first page).
    nickname: config.nickname,
    auto_join_rooms: [],
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
    // In-band registration, push: not offered. OMEMO (WebAssembly, a GPL-3.0 library) only
    // with the service's "encryption", and then each user turns it on per chat (the padlock):
    // an encrypted message is unreadable in the archive, other clients and new browsers.
    blacklisted_plugins: [
      ...(config.encryption ? [] : ["converse-omemo", "converse-omemo-views"]),
      "converse-register",
      "converse-push",
    ],
    omemo_default: false,
    // Desktop notifications (and their sound) for direct messages and mentions, when the
    // user turned them on in their profile; a mention is the user's name, with or without
    // Converse's autocompletion (other clients send no reference).
    show_desktop_notifications: config.notifications,
    play_sounds: config.notifications,
    notify_all_room_messages: false,
    notify_nicknames_without_references: true,
    // Reconnection (the server restarted, the network came back): Converse reconnects by
    // itself, fetching a new token, and asks the archive (MAM) for what came meanwhile —
    // every page of it, not only the newest 50, so that nothing is left out; the messages
    // it has stay, and those the archive sends again are recognised (stanza ids), not
    // shown twice.
    auto_reconnect: true,
    mam_request_all_pages: true,
    clear_messages_on_reconnection: false,
    show_controlbox_by_default: config.view_mode === "fullscreen",
    sticky_controlbox: config.view_mode === "fullscreen",
    loglevel: "warn",
  });
}
