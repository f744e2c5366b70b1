// One page view to the Matomo server the administrators chose (Paramétrage > Service de
// messagerie > Track visits), with Matomo's HTTP Tracking API: see evim/service/tracking.py
// for why not matomo.js, and for what is sent and what never is.
const element = document.getElementById("evim-tracker");
// The server leaves the tracker out when the request carries DNT or Sec-GPC; the browser's
// own setting is checked again in case the page came from somewhere that ignored them.
const optedOut = navigator.doNotTrack === "1" || navigator.globalPrivacyControl === true;
if (element && !optedOut) {
  const tracker = JSON.parse(element.textContent);
  const view = new URLSearchParams({
    idsite: String(tracker.site_id),
    rec: "1",
    apiv: "1",
    // The address without its query string or fragment: they may hold what someone typed.
    url: location.origin + location.pathname,
    // The view's name, not document.title: titles name people.
    action_name: tracker.action_name,
    // Defeats caches between the browser and the server, as Matomo recommends.
    rand: String(Math.floor(Math.random() * 2 ** 31)),
    // An empty answer (204), not a tracking pixel.
    send_image: "0",
  });
  // POST, so the addresses stay out of the tracking server's access log; no-cors and a
  // form-encoded body: Matomo needs no CORS headers and we read nothing back; no cookie of
  // the Matomo server's, no referrer; keepalive: the view is reported even if the person
  // leaves the page at once.
  fetch(tracker.endpoint, {
    method: "POST",
    body: view,
    mode: "no-cors",
    credentials: "omit",
    referrerPolicy: "no-referrer",
    keepalive: true,
  }).catch(() => {
    // An unreachable statistics server must not trouble the page.
  });
}
