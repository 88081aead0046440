// Follows a training job: updates the progress bar each second, reloads the page when it ends.
(function () {
  var box = document.getElementById("job");
  if (!box) { return; }
  var bar = document.getElementById("job-progress");
  function poll() {
    fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (job) {
        if (job.step !== box.dataset.step || (job.state !== "queued" && job.state !== "running")) {
          window.location.reload(); return;
        }
        bar.value = job.progress;
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
