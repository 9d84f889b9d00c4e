// The console's one chart: time to a first offer, drawn by Chart.js from the JSON the page
// embeds (the page's CSP forbids inline scripts). The table under the chart says the same in
// text, for screen readers and for browsers without JavaScript.
"use strict";

function drawFirstOfferChart() {
  const canvas = document.getElementById("first-offer-chart");
  const data = document.getElementById("first-offer-data");
  if (!canvas || !data || typeof Chart === "undefined" || canvas.dataset.drawn) {
    return;
  }
  const figures = JSON.parse(data.textContent);
  canvas.dataset.drawn = "yes";
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: figures.labels,
      datasets: [{ label: canvas.getAttribute("aria-label"), data: figures.counts,
                   backgroundColor: "#0b3d91" }],
    },
    options: {
      animation: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

document.addEventListener("DOMContentLoaded", drawFirstOfferChart);
// htmx swaps the body when a boosted link is followed: draw again once the new page settled.
document.addEventListener("htmx:afterSettle", drawFirstOfferChart);
