// The few lines of JavaScript the app needs; no inline scripts, so a strict CSP holds.
(function () {
  "use strict";

  // Plain (non-htmx) forms that ask before they act.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form[data-confirm]:not([hx-post])") && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
