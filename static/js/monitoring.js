/* Monitoring charts: draws the figures embedded in the page with the vendored Chart.js. */
(function () {
  "use strict";
  ["from", "to"].forEach(function (id) {  // typing a date means "use the dates"
    var input = document.getElementById(id), windowChoice = document.getElementById("window");
    if (input && windowChoice) {
      input.addEventListener("change", function () { windowChoice.value = "dates"; });
    }
  });
  var holder = document.getElementById("monitoring-data");
  if (!holder || typeof Chart === "undefined") { return; }
  var data = JSON.parse(holder.textContent);
  var report = data.report, labels = data.labels;
  var palette = ["#0b5cad", "#e07b00", "#1e7b34", "#8e44ad", "#b3261e", "#5b6775", "#00838f"];
  // Hours in the plant's clock (VIGIE_TIMEZONE), the UTC hour in each tooltip.
  var moments = report.hours.map(function (h) { return new Date(h); });
  var local = new Intl.DateTimeFormat(data.locale, { timeZone: data.timezone, day: "2-digit",
    month: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  var hours = moments.map(function (m) { return local.format(m); });
  var utcHours = report.hours.map(function (h) { return h.slice(0, 10) + " " + h.slice(11, 16) + " UTC"; });
  var timeTooltip = { tooltip: { callbacks: { title: function (items) {
    return items.length ? hours[items[0].dataIndex] + " (" + utcHours[items[0].dataIndex] + ")" : "";
  } } } };

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new Chart(canvas, config); }
  }
  function series(map, nameOf) {
    return Object.keys(map).map(function (name, i) {
      return { label: nameOf ? nameOf(name) : name, data: map[name],
               backgroundColor: palette[i % palette.length], borderColor: palette[i % palette.length],
               spanGaps: true, pointRadius: hours.length <= 48 ? 3 : 0, borderWidth: 2 };
    });
  }
  var timeAxis = { ticks: { maxTicksLimit: 12, autoSkip: true } };

  draw("chart-volume", { type: "bar", data: { labels: hours,
    datasets: series(report.operations.predictions_by_channel, function (c) { return labels.channels[c] || c; }) },
    options: { animation: false, plugins: timeTooltip, scales: { x: Object.assign({ stacked: true }, timeAxis), y: { stacked: true, beginAtZero: true } } } });

  var latency = report.operations.latency_ms;
  draw("chart-latency", { type: "line", data: { labels: hours, datasets: series({ p50: latency.p50_by_hour, p95: latency.p95_by_hour },
    function (n) { return labels[n]; }) }, options: { animation: false, plugins: timeTooltip, scales: { x: timeAxis, y: { beginAtZero: true } } } });

  draw("chart-problems", { type: "bar", data: { labels: hours, datasets: [
    { label: labels.rejected, data: report.operations.rejected_by_hour, backgroundColor: "#e07b00" },
    { label: labels.errors, data: report.operations.errors_by_hour, backgroundColor: "#b3261e" }] },
    options: { animation: false, plugins: timeTooltip, scales: { x: timeAxis, y: { beginAtZero: true, ticks: { precision: 0 } } } } });

  var rates = {};
  Object.keys(report.model.anomaly_rate_by_version).forEach(function (v) {
    rates[v] = report.model.anomaly_rate_by_version[v].map(function (r) { return r === null ? null : 100 * r; });
  });
  draw("chart-anomaly-rate", { type: "line", data: { labels: hours, datasets: series(rates) },
    options: { animation: false, plugins: timeTooltip, scales: { x: timeAxis, y: { beginAtZero: true, title: { display: true, text: "%" } } } } });

  var ratio = report.model.score_ratio;
  var ratioLabels = ratio.counts.map(function (_, i) { return ratio.edges[i].toPrecision(2); });
  draw("chart-scores", { type: "bar", data: { labels: ratioLabels, datasets: [{ label: labels.readings, data: ratio.counts,
    backgroundColor: ratio.edges.slice(0, -1).map(function (e) { return e >= 1 ? "#b3261e" : "#0b5cad"; }) }] },
    options: { animation: false, scales: { x: { title: { display: true, text: labels.threshold } }, y: { beginAtZero: true } } } });

  document.querySelectorAll("canvas.drift-chart").forEach(function (canvas) {
    var section = report.drift.filter(function (d) { return d.asset === canvas.dataset.asset; })[0];
    var sensor = section.sensors[Number(canvas.dataset.index)];
    function shares(counts) {
      var total = counts.reduce(function (a, b) { return a + b; }, 0);
      return counts.map(function (c) { return total ? 100 * c / total : 0; });
    }
    new Chart(canvas, { type: "bar", data: { labels: sensor.training_counts.map(function (_, i) { return sensor.edges[i].toPrecision(3); }),
      datasets: [{ label: labels.training, data: shares(sensor.training_counts), backgroundColor: "#9aa6b2" },
                 { label: labels.recent, data: shares(sensor.recent_counts), backgroundColor: sensor.status === "drift" ? "#b3261e" : "#0b5cad" }] },
      options: { animation: false, responsive: false, plugins: { legend: { display: false } },
                 scales: { x: { display: false }, y: { display: false, beginAtZero: true } } } });
  });

  var bySensor = report.quality.rejected_values_by_sensor, codes = {};
  Object.keys(bySensor).forEach(function (sensor) {
    Object.keys(bySensor[sensor]).forEach(function (code) { codes[code] = true; });
  });
  var sensors = Object.keys(bySensor);
  draw("chart-quality", { type: "bar", data: { labels: sensors, datasets: Object.keys(codes).map(function (code, i) {
      return { label: labels.codes[code] || code, data: sensors.map(function (s) { return bySensor[s][code] || 0; }),
               backgroundColor: palette[i % palette.length] }; }) },
    options: { animation: false, indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } } });
}());
