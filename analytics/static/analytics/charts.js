/* Draws the report charts with plotly.js (served by the app, no CDN).
   Progressive enhancement: each chart's numbers are already on the page as a data
   table and its summary as text; this script reads the figure JSON beside the
   chart, draws it, hides the drawing itself from screen readers (they get the
   summary and the table), and folds the table away (one click opens it again).
   The toolbar stays visible for keyboard users: its first button saves a PNG.
   Nothing is sent anywhere: plotly's "share to the cloud" button is off. */
(function () {
  "use strict";

  /* The toolbar's texts in the page's language (analytics.charts.figures.PLOTLY_TEXTS). */
  function locale() {
    var source = document.getElementById("plotly-locale");
    if (!source || !window.Plotly) return null;
    var data = JSON.parse(source.textContent);
    window.Plotly.register({ moduleType: "locale", name: data.name, dictionary: data.dictionary });
    return data.name;
  }

  function draw(container, language) {
    var source = document.getElementById(container.getAttribute("data-figure"));
    if (!source || !window.Plotly) return;
    var figure = JSON.parse(source.textContent);
    var config = {
      locale: language || "en",
      responsive: true,
      displaylogo: false,
      displayModeBar: true,
      showSendToCloud: false,
      showEditInChartStudio: false,
      modeBarButtonsToRemove: ["sendChartToCloud", "sendDataToCloud", "select2d", "lasso2d"],
      toImageButtonOptions: { format: "png", filename: container.getAttribute("data-filename") || "chart" }
    };
    container.hidden = false;
    window.Plotly.newPlot(container, figure.data, figure.layout || {}, config).then(function () {
      var drawings = container.querySelectorAll("svg");
      for (var i = 0; i < drawings.length; i++) drawings[i].setAttribute("aria-hidden", "true");
      container.setAttribute("data-drawn", "true");
      var figureElement = container.closest("figure");
      var table = figureElement && figureElement.querySelector("details[data-chart-table]");
      if (table) table.open = false;
    });
  }

  function start() {
    var charts = document.querySelectorAll("[data-figure]");
    var language = charts.length ? locale() : null;
    for (var i = 0; i < charts.length; i++) draw(charts[i], language);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
