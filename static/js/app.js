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

  // Copy all: a button[data-copy] names a text box whose lines go to the
  // clipboard. The button stays hidden where this script does not run; where
  // the clipboard is refused, the text box is selected for the person to copy.
  function showCopyButtons(root) {
    root.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { showCopyButtons(document); });
  document.addEventListener("htmx:load", function (event) { showCopyButtons(event.target); });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    var box = document.querySelector(button.dataset.copy);
    var status = button.parentElement.querySelector(".copy-status");
    var lines = box.value.split("\n").filter(Boolean).length;
    function say(text, failed) {
      if (status) {
        status.textContent = text;
        status.classList.toggle("failed", failed);
      }
    }
    function selectBox() {
      box.focus();
      box.select();
      say("Copying is blocked here: the codes are selected, press Ctrl+C (⌘C on a Mac).", true);
    }
    if (!navigator.clipboard) {
      selectBox();
      return;
    }
    navigator.clipboard.writeText(box.value).then(function () {
      say("Copied " + lines + (lines === 1 ? " code." : " codes."), false);
    }, selectBox);
  });

  // A panel shown in place (such as a code's redemptions) hides again.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-hide-row]");
    if (button) {
      button.closest("tr").hidden = true;
    }
  });

  // A print page's Print button: hidden where this script does not run (the
  // browser's own Print still works there).
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-print][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("button[data-print]")) {
      window.print();
    }
  });
})();
