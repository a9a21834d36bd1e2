// The few lines of JavaScript the app needs; no inline scripts, so a strict CSP holds.
(function () {
  "use strict";

  // Plain (non-htmx) forms that ask before they act. Asked and answered here,
  // the form says so (confirmed=1), and the server does not ask again on a page
  // of its own, as it does where this script does not run. htmx forms ask with
  // data-hx-confirm and send data-hx-vals' confirmed=1 themselves.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-confirm]:not([data-hx-post])")) {
      return;
    }
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (!form.querySelector("input[name=confirmed]")) {
      var yes = document.createElement("input");
      yes.type = "hidden";
      yes.name = "confirmed";
      yes.value = "1";
      form.appendChild(yes);
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
    // data-copied names what was copied when it is not codes (a snippet of
    // HTML, a list of addresses).
    var what = button.dataset.copied;
    function selectBox() {
      box.focus();
      box.select();
      say("Copying is blocked here: the " + (what ? "text is" : "codes are") +
          " selected, press Ctrl+C (⌘C on a Mac).", true);
    }
    if (!navigator.clipboard) {
      selectBox();
      return;
    }
    navigator.clipboard.writeText(box.value).then(function () {
      say(what ? "Copied " + what + "." : "Copied " + lines + (lines === 1 ? " code." : " codes."), false);
    }, selectBox);
  });

  // Share a link (a parent code's): the phone's share sheet where there is one,
  // else the clipboard, which is said in the page's live region (say, below)
  // and written beside the button; where the clipboard is refused, the link is
  // selected for the person to copy. The button stays hidden where this script
  // does not run; the link stays written beside it either way.
  function showShareButtons(root) {
    root.querySelectorAll("button[data-share][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { showShareButtons(document); });
  document.addEventListener("htmx:load", function (event) { showShareButtons(event.target); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-share]");
    if (!button) {
      return;
    }
    var link = button.dataset.share;
    var status = button.parentElement.querySelector(".share-status");
    var written = button.parentElement.querySelector(".link-text");
    function tell(text, failed) {
      if (status) {
        status.textContent = text;
      }
      say(text, failed);
    }
    function selectLink() {
      if (written) {
        var range = document.createRange();
        range.selectNodeContents(written);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
      }
      tell("Copying is blocked here: the link is selected, press Ctrl+C (⌘C on a Mac).", true);
    }
    if (navigator.share) {
      navigator.share({url: link}).catch(function () {});
      return;
    }
    if (!navigator.clipboard) {
      selectLink();
      return;
    }
    navigator.clipboard.writeText(link).then(function () {
      tell("Link copied.", false);
    }, selectLink);
  });

  // What htmx answered is said, and the focus goes where the person goes next
  // (docs/ACCESSIBILITY.md has the rules). Said in the page's own live regions
  // (templates/base.html), present before any answer: a region inserted with
  // the answer is not announced by every screen reader.
  function say(text, urgent) {
    var region = document.getElementById(urgent ? "alerts" : "announcements");
    if (!region || !text) {
      return;
    }
    // Emptied, then filled a moment later, so the same words said again are announced again.
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 60);
  }

  function textOf(elements) {
    return elements.map(function (element) {
      return element.textContent.replace(/\s+/g, " ").trim();
    }).filter(Boolean).join(" ");
  }

  function within(roots, selector) {
    var found = [];
    roots.forEach(function (root) {
      if (root.matches(selector)) {
        found.push(root);
      }
      found.push.apply(found, root.querySelectorAll(selector));
    });
    return found;
  }

  function focusOn(element) {
    if (!element.matches("a[href], button, input, select, textarea, [tabindex]")) {
      element.setAttribute("tabindex", "-1");
    }
    element.focus({ preventScroll: true });
    element.scrollIntoView({ block: "nearest" });
  }

  var MESSAGES = ".flash, p.error";
  var settled = new WeakMap();

  // One answer may settle several elements (those swapped out of band too):
  // gathered, then handled once.
  document.addEventListener("htmx:afterSettle", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr) {
      return;
    }
    var answer = settled.get(xhr);
    if (!answer) {
      answer = { config: event.detail.requestConfig || {}, elements: [] };
      settled.set(xhr, answer);
      window.setTimeout(function () { answered(answer); }, 0);
    }
    answer.elements.push(event.target);
  });

  function answered(answer) {
    var trigger = answer.config.elt;
    var verb = (answer.config.verb || "get").toLowerCase();
    // What was swapped where the person acted; not what came out of band.
    var settledNow = answer.elements.filter(function (element) {
      return element.isConnected && !element.matches("[data-hx-swap-oob], [hx-swap-oob]");
    });
    // The page's own messages (#flashes, sent along out of band) are said, not
    // focused: the focus stays where the person acted.
    var swapped = settledNow.filter(function (element) {
      return element.id !== "flashes";
    });
    if (!swapped.length) {
      return;
    }
    var action = verb !== "get";
    if (action) {
      var errors = within(settledNow, "p.error, .flash-error");
      say(textOf(errors), true);
      if (!errors.length) {
        say(textOf(within(settledNow, ".flash, [data-announce]")), false);
      }
    } else if (!(trigger && trigger.matches("a"))) {
      // A search or filter as one types: the focus stays in its box.
      return;
    }
    var invalid = within(swapped, "[aria-invalid=true]")[0];
    if (invalid) {
      if (document.activeElement !== invalid) {
        invalid.focus();
      }
      return;
    }
    var marked = within(swapped, "[data-focus-after-swap]")[0];
    if (marked) {
      focusOn(marked);
      marked.scrollIntoView({ block: "start" });
      return;
    }
    var message = within(swapped, MESSAGES)[0];
    if (message) {
      focusOn(message);
      return;
    }
    // The same button again (a switch, Move), in the part swapped in.
    var form = trigger && trigger.closest("form");
    var again = form && within(swapped, "form").filter(function (other) {
      return other.getAttribute("action") === form.getAttribute("action");
    })[0];
    var button = again && again.querySelector("button");
    focusOn(button || swapped[0]);
  }

  // A table or a code wider than its box scrolls inside it (a phone): reachable
  // by the keyboard too, as a stop of its own, only while it does scroll.
  function scrollersFocusable(root) {
    root.querySelectorAll("table, .code-text").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        if (!box.hasAttribute("tabindex")) {
          box.setAttribute("tabindex", "0");
        }
      } else if (box.getAttribute("tabindex") === "0" && !box.matches("a, button, input, select, textarea")) {
        box.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { scrollersFocusable(document); });
  document.addEventListener("htmx:load", function (event) { scrollersFocusable(event.target); });
  var resizing = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(function () { scrollersFocusable(document); }, 200);
  });

  // A page after a plain post: its message is where the person reads on, unless
  // the page focuses a field (a refused form).
  document.addEventListener("DOMContentLoaded", function () {
    var flash = document.querySelector("main .flashes .flash");
    if (flash && !document.querySelector("[autofocus]")) {
      focusOn(flash);
    }
  });

  // A panel shown in place (such as a code's redemptions) hides again, and the
  // focus goes back to the link that showed it.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-hide-row]");
    if (button) {
      var row = button.closest("tr");
      var link = row.parentElement && row.parentElement.querySelector("a[data-hx-get]");
      row.hidden = true;
      if (link) {
        link.focus();
      }
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

  // A request htmx sent that failed. htmx swaps nothing for an error answer and
  // does nothing when the server cannot be reached, so without this the page
  // kept showing the last answer ("You joined ...") as if it were this one's.
  // The message goes right after what the person used (a form, a link), as an
  // alert that screen readers announce, and the success messages of the part
  // that was to be updated go. A 500 from the app is rolled back whole, and the
  // proxy never passes a POST to a second server (deploy/nginx.conf.template), hence
  // "nothing was changed". Not after a timeout, ours or the proxy's (504): a
  // request that waited in gunicorn's queue may be done after the proxy gave up
  // on it (bench/chaos.py, the frozen writer), so the person is asked to look.
  var SAID = {
    unreachable: "We couldn't reach the server; nothing was changed; try again.",
    server: "Something went wrong on our side; nothing was changed; try again.",
    busy: "Codes is too busy to answer right now; nothing was changed; wait a few seconds, then try again.",
    slow: "The server took too long to answer; reload the page to see whether it was done, then try again.",
    gone: "That is no longer there: it may have been deleted meanwhile. Nothing was changed; " +
      "reload the page to see how things stand.",
    refused: "That could not be done; nothing was changed. Reload the page, then try again."
  };
  var failures = new WeakMap();

  // An error page of the app's own (the busy page) says in data-failure-message
  // what to tell the person in place, so the words stay the server's.
  function serverWording(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") !== 0 || !xhr.responseText) {
      return "";
    }
    var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var marked = page.querySelector("[data-failure-message]");
    return marked ? marked.getAttribute("data-failure-message").trim() : "";
  }

  function answerWording(xhr) {
    var own = serverWording(xhr);
    if (own) {
      return own;
    }
    if (xhr.status === 503) {
      return SAID.busy;
    }
    if (xhr.status === 504) {
      return SAID.slow;
    }
    if (xhr.status === 404 || xhr.status === 410) {
      return SAID.gone;
    }
    return xhr.status >= 500 ? SAID.server : SAID.refused;
  }

  function forget(elt) {
    var message = elt && failures.get(elt);
    if (message) {
      message.remove();
      failures.delete(elt);
    }
  }

  function sayFailed(event, text) {
    var elt = event.detail.elt;
    var target = event.detail.target;
    if (target) {
      target.querySelectorAll(".flash-success").forEach(function (success) {
        success.remove();
      });
    }
    forget(elt);
    // A new element each time, so that the same words said again are announced
    // again: an alert is announced as it is inserted, unlike a status.
    var message = document.createElement("p");
    message.className = "flash flash-error request-failed";
    message.setAttribute("role", "alert");
    message.textContent = text;
    if (elt && elt.parentElement && elt !== document.body) {
      elt.insertAdjacentElement("afterend", message);
    } else {
      (document.querySelector("main") || document.body).prepend(message);
    }
    if (elt) {
      failures.set(elt, message);
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    sayFailed(event, answerWording(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function (event) {
    sayFailed(event, SAID.unreachable);
  });
  document.addEventListener("htmx:timeout", function (event) {
    sayFailed(event, SAID.slow);
  });
  // Answered at last: the message about the try before goes (it went with the
  // swap already when it sat inside the part swapped).
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) {
      forget(event.detail.elt);
    }
  });
})();
