// ValueFlow's small progressive enhancements. Every page works without this file: without it the navigation is
// simply always shown and htmx-less links and forms do full page loads.

// The menu button on narrow screens. It is a real <button>, so Enter and Space toggle it from the keyboard;
// Escape closes the open menu and returns focus to the button.
function setUpMenuButton() {
  const button = document.getElementById("menu-button");
  const menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!button || !menu) return;

  const setOpen = (open) => {
    button.setAttribute("aria-expanded", String(open));
    menu.classList.toggle("is-open", open);
  };

  button.hidden = false;
  button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      button.focus();
    }
  });
}

// htmx 2 does not swap error responses (see the htmx-config meta tag in base.html); tell the user instead of
// failing silently, in the page's live messages region.
function announceFailedRequests() {
  document.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    const region = document.getElementById("messages");
    if (!region) return;
    const text = status === 403 ? "You do not have permission to do that."
      : status >= 500 ? "The server could not complete the request; please try again."
      : `The request failed (HTTP ${status}).`;
    region.innerHTML = "";
    const box = document.createElement("div");
    box.className = "messages";
    box.setAttribute("role", "alert");
    const message = document.createElement("div");
    message.className = "message message-error";
    message.textContent = text;
    box.appendChild(message);
    region.appendChild(box);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpMenuButton();
  announceFailedRequests();
});
