// Score-a-reading page: choosing another asset reloads the form for it (no inline handler: CSP).
(function () {
  var pick = document.getElementById("asset-pick");
  if (!pick) { return; }
  pick.addEventListener("change", function () { pick.form.submit(); });
})();
