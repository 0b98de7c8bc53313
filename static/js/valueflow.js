// Small progressive enhancements only; every page works without this file.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  console.warn("ValueFlow: request failed with status", status);
});
