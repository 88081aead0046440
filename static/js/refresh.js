/* Pages an operator leaves open (alarms) reload themselves every data-refresh-seconds, except
   while someone is typing in a form there or a confirmation is open. */
(function () {
  "use strict";
  var holder = document.querySelector("[data-refresh-seconds]");
  if (!holder) { return; }
  var seconds = Number(holder.dataset.refreshSeconds) || 30;
  var typing = false;
  document.addEventListener("input", function () { typing = true; });
  setInterval(function () {
    if (typing || document.querySelector("dialog[open]") || document.hidden) { return; }
    window.location.reload();
  }, seconds * 1000);
})();
