/* Batch page: upload with a progress bar, processing progress by polling, and the score chart.
   Without JavaScript the form posts normally and the result page refreshes itself. */
(function () {
  "use strict";

  function formatMb(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

  function showPage(html) {
    document.open();
    document.write(html);
    document.close();
  }

  function setupUpload(form) {
    var box = document.getElementById("upload-progress");
    var bar = box.querySelector("progress");
    var text = box.querySelector(".progress-text");
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      var file = input.files && input.files[0];
      if (!file || !window.FormData) { return; }  /* the server explains what is missing */
      event.preventDefault();
      if (file.size > Number(form.dataset.maxBytes)) {
        box.hidden = false;
        text.textContent = form.dataset.tooLarge;
        return;
      }
      var request = new XMLHttpRequest();
      request.open("POST", form.action || window.location.href);
      request.setRequestHeader("Accept", "text/html");
      request.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        bar.value = Math.round(100 * e.loaded / e.total);
        text.textContent = formatMb(e.loaded) + " / " + formatMb(e.total);
      });
      request.addEventListener("load", function () {
        if (request.status === 200 && request.responseURL && request.responseURL !== window.location.href) {
          window.location.assign(request.responseURL);
        } else {
          showPage(request.responseText);
        }
      });
      request.addEventListener("error", function () { text.textContent = form.dataset.failed; });
      box.hidden = false;
      form.querySelector("button[type=submit]").disabled = true;
      request.send(new FormData(form));
    });
  }

  function setupPolling(section) {
    var bar = section.querySelector("progress");
    var rows = section.querySelector(".rows-read");
    function poll() {
      var request = new XMLHttpRequest();
      request.open("GET", section.dataset.statusUrl);
      request.setRequestHeader("Accept", "application/json");
      request.addEventListener("load", function () {
        if (request.status !== 200) { window.setTimeout(poll, 5000); return; }
        var status = JSON.parse(request.responseText);
        if (status.state === "done" || status.state === "failed") {
          window.location.assign(section.dataset.resultUrl);
          return;
        }
        if (status.bytes_total) { bar.value = Math.round(100 * status.bytes_read / status.bytes_total); }
        if (status.rows_read !== undefined) { rows.textContent = status.rows_read; }
        window.setTimeout(poll, 1000);
      });
      request.addEventListener("error", function () { window.setTimeout(poll, 5000); });
      request.send();
    }
    window.setTimeout(poll, 500);
  }

  function drawChart(canvas) {
    var data = JSON.parse(document.getElementById("chart-data").textContent);
    if (!window.Chart) { return; }
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: data.score_label, data: data.scores, borderColor: "#0b5cad", borderWidth: 1,
            pointRadius: 0, tension: 0 },
          { label: data.threshold_label, data: data.labels.map(function () { return data.threshold; }),
            borderColor: "#b3261e", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0 }
        ]
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: { x: { title: { display: true, text: data.x_label }, ticks: { maxTicksLimit: 10 } },
                  y: { beginAtZero: true } }
      }
    });
  }

  var form = document.getElementById("batch-form");
  if (form) { setupUpload(form); }
  var processing = document.getElementById("processing");
  if (processing) { setupPolling(processing); }
  var canvas = document.getElementById("score-chart");
  if (canvas) { drawChart(canvas); }
}());
