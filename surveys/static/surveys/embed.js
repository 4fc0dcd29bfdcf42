/* JourneyPulse embed: shows a customer's pending survey on your own pages. No dependencies.
 *
 *   <script src="https://feedback.example.com/static/surveys/embed.js" data-key="jp_wk_..." defer></script>
 *   <script>
 *     window.JourneyPulse = window.JourneyPulse || { q: [], identify: function () { this.q.push(arguments); } };
 *     JourneyPulse.identify("user-42", { userHash: "<hex HMAC-SHA256 of user-42, from your server>", plan: "pro" });
 *   </script>
 *
 * The survey opens as a slide-in (a labelled region with the form in an iframe and a close button);
 * Escape or the button closes it, and a survey closed unanswered is not offered again.
 * API: JourneyPulse.identify(userId, {userHash, ...traits}) -> Promise; JourneyPulse.close().
 */
(function (window, document) {
  "use strict";
  var script = document.currentScript;
  var queued = window.JourneyPulse && window.JourneyPulse.q;
  var host = script ? new URL(script.getAttribute("data-host") || script.src, window.location.href).origin : "";
  var key = script ? script.getAttribute("data-key") : "";
  var open = null;

  function call(path, body) {
    // text/plain keeps this a "simple" cross-origin request: no preflight. No cookies either way.
    return fetch(host + "/api/v1/embed/" + path + "/", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body),
      credentials: "omit",
      keepalive: true
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || response.status);
        return data;
      });
    });
  }

  function style(element, css) {
    element.style.cssText = css;
    return element;
  }

  function close(dismiss) {
    if (!open) return;
    var current = open;
    open = null;
    window.removeEventListener("message", current.listener);
    var hadFocus = current.box.contains(document.activeElement);
    current.box.parentNode.removeChild(current.box);
    if (hadFocus && current.returnFocus && current.returnFocus.focus) current.returnFocus.focus();
    if (dismiss !== false && !current.complete) {
      call("dismiss", { token: current.survey.token }).catch(function () {});
    }
  }

  function show(survey) {
    if (open) return;
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var box = style(document.createElement("section"),
      "position:fixed;right:16px;bottom:16px;z-index:2147483000;width:min(420px,calc(100vw - 32px));" +
      "background:#fff;border:1px solid #6b7280;border-radius:12px;box-shadow:0 8px 32px rgba(0,0,0,.25);" +
      "overflow:hidden;transform:translateY(0);transition:" + (reduce ? "none" : "transform .3s ease-out"));
    box.setAttribute("aria-label", survey.labels.region + ": " + survey.title);
    box.setAttribute("lang", survey.language);
    box.setAttribute("data-journeypulse", "");
    var bar = style(document.createElement("div"), "display:flex;justify-content:flex-end;padding:4px 4px 0");
    var button = style(document.createElement("button"),
      "width:36px;height:36px;border:0;border-radius:50%;background:#fff;color:#1f2937;" +
      "font:24px/1 sans-serif;cursor:pointer");
    button.type = "button";
    button.textContent = "\u00d7";
    button.setAttribute("aria-label", survey.labels.close);
    button.addEventListener("focus", function () { button.style.outline = "3px solid #1d4ed8"; });
    button.addEventListener("blur", function () { button.style.outline = "none"; });
    button.addEventListener("click", function () { close(); });
    var frame = style(document.createElement("iframe"), "display:block;width:100%;height:320px;border:0");
    frame.title = survey.title;
    frame.src = survey.url;
    bar.appendChild(button);
    box.appendChild(bar);
    box.appendChild(frame);
    box.addEventListener("keydown", function (event) {
      if (event.key === "Escape") close();
    });
    var state = { box: box, survey: survey, complete: false, returnFocus: document.activeElement };
    state.listener = function (event) {
      var data = event.data;
      if (event.origin !== host || event.source !== frame.contentWindow || !data || data.source !== "journeypulse") return;
      if (data.type === "resize") {
        frame.style.height = Math.min(Math.max(data.height, 120), window.innerHeight - 48) + "px";
      } else if (data.type === "escape") {
        close();
      } else if (data.type === "complete" || data.type === "closed") {
        state.complete = true;
      }
    };
    window.addEventListener("message", state.listener);
    open = state;
    document.body.appendChild(box);
    if (!reduce) {
      box.style.transform = "translateY(120%)";
      window.requestAnimationFrame(function () {
        window.requestAnimationFrame(function () { box.style.transform = "translateY(0)"; });
      });
    }
  }

  function identify(userId, options) {
    options = options || {};
    var traits = {};
    for (var name in options) {
      if (name !== "userHash" && Object.prototype.hasOwnProperty.call(options, name)) traits[name] = options[name];
    }
    return call("identify", { key: key, userId: String(userId), userHash: options.userHash || "", traits: traits })
      .then(function (data) {
        if (data && data.survey) show(data.survey);
        return data ? data.survey : null;
      }, function (error) {
        if (window.console) window.console.warn("JourneyPulse: " + error.message);
        return null;
      });
  }

  window.JourneyPulse = { identify: identify, close: close };
  if (queued) {
    for (var i = 0; i < queued.length; i++) identify.apply(null, queued[i]);
  }
})(window, document);
