// Small progressive enhancements of the back-office layout; every page works without them.
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => {
  const topbar = document.querySelector(".topbar");
  const button = document.querySelector(".nav-button");
  if (topbar && button) {
    button.addEventListener("click", () => {
      const open = topbar.classList.toggle("nav-open");
      button.setAttribute("aria-expanded", String(open));
    });
  }
  // Close an open menu section when clicking elsewhere or pressing Escape.
  const dropdowns = Array.from(document.querySelectorAll("details.dropdown"));
  const closeAll = (except) => dropdowns.forEach((d) => { if (d !== except) d.open = false; });
  document.addEventListener("click", (event) => {
    closeAll(dropdowns.find((d) => d.contains(event.target)));
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeAll(null); });
});
