// The audit page's live-update states: say when polling fails and when it recovers, and show the
// filter form as busy while the filtered page loads. The page works without this file.
(function () {
  "use strict";

  var errorBox = document.getElementById("audit-live-error");

  function isPoll(event) {
    var target = event.detail && event.detail.elt;
    return target && target.id === "audit-live";
  }

  function showError(message) {
    if (!errorBox) { return; }
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  document.body.addEventListener("htmx:sendError", function (event) {
    if (isPoll(event)) {
      showError("Live updates paused: the server could not be reached. Retrying every few seconds.");
    }
  });

  document.body.addEventListener("htmx:responseError", function (event) {
    if (isPoll(event)) {
      var status = event.detail.xhr ? event.detail.xhr.status : "unknown";
      showError("Live updates paused: the server answered with an error (" + status + "). Retrying every few seconds.");
    }
  });

  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (isPoll(event) && event.detail.successful && errorBox && !errorBox.hidden) {
      errorBox.hidden = true;
      errorBox.textContent = "";
    }
  });

  var form = document.getElementById("audit-filters");
  if (form) {
    form.addEventListener("submit", function () {
      var button = document.getElementById("audit-apply");
      if (button) {
        button.setAttribute("aria-busy", "true");
        button.textContent = "Loading…";
      }
    });
  }
})();
