/* JourneyPulse survey form: progressive enhancement. The form works without this file.
 *
 * - Answers are posted with fetch and the next step replaces the page's <main>, without a reload;
 *   focus moves to the new question (or the error, or the closing heading). Any failure falls back
 *   to the browser's own submit.
 * - Inside an iframe (embed.js), the page reports its height and its end to the parent window.
 */
(function () {
  "use strict";
  var framed = window.parent !== window;

  function tell(message) {
    if (framed) {
      message.source = "journeypulse";
      window.parent.postMessage(message, "*"); // nothing secret: a height or "complete"
    }
  }

  function reportState() {
    var state = document.body.getAttribute("data-state");
    if (state) tell({ type: state });
  }

  function focusStep(main) {
    var target = main.querySelector("form input:checked") ||
      main.querySelector("form input:not([type=hidden]), form textarea") || main.querySelector("h1");
    if (!target) return;
    if (target.tagName === "H1") target.setAttribute("tabindex", "-1");
    target.focus();
  }

  function enhance(form) {
    if (form.method.toLowerCase() !== "post" || !window.fetch || !window.DOMParser) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("[type=submit]");
      if (button) button.disabled = true;
      fetch(window.location.href, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var next = new DOMParser().parseFromString(html, "text/html");
          var main = document.querySelector("main");
          var nextMain = next.querySelector("main");
          if (!main || !nextMain) throw new Error("unexpected page");
          main.innerHTML = nextMain.innerHTML;
          document.title = next.title;
          document.documentElement.lang = next.documentElement.lang;
          var state = next.body.getAttribute("data-state");
          if (state) document.body.setAttribute("data-state", state);
          var nextForm = main.querySelector("form");
          if (nextForm) enhance(nextForm);
          focusStep(main);
          reportState();
        })
        .catch(function () { HTMLFormElement.prototype.submit.call(form); });
    });
  }

  var form = document.querySelector("main form");
  if (form) enhance(form);
  if (framed && window.ResizeObserver) {
    new ResizeObserver(function () {
      tell({ type: "resize", height: Math.ceil(document.documentElement.getBoundingClientRect().height) });
    }).observe(document.documentElement);
  }
  if (framed) {
    // On keyup, so the key's whole press has reached this frame before the page removes it.
    document.addEventListener("keyup", function (event) {
      if (event.key === "Escape") tell({ type: "escape" });
    });
  }
  reportState();
})();
