/* Switches that change what the plant relies on (activate, roll back, revoke a key, deactivate
   a user) ask once more, restating the consequence written in the form's data-confirm; a yes
   adds confirm=1 to the form. Without JavaScript or <dialog> support the server asks instead
   (webapp/views/confirmation.py): the action happens only with confirm=1. */
(function () {
  "use strict";
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") { return; }
  var text = document.getElementById("confirm-text");
  var pending = null;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.confirm || form.dataset.confirmed === "yes") { return; }
    event.preventDefault();
    pending = form;
    text.textContent = form.dataset.confirm;
    dialog.showModal();
    document.getElementById("confirm-no").focus();
  });
  document.getElementById("confirm-no").addEventListener("click", function () {
    pending = null;
    dialog.close();
  });
  document.getElementById("confirm-yes").addEventListener("click", function () {
    var form = pending;
    pending = null;
    dialog.close();
    if (!form) { return; }
    form.dataset.confirmed = "yes";
    var field = document.createElement("input");  // the server acts only with confirm=1
    field.type = "hidden";
    field.name = "confirm";
    field.value = "1";
    form.appendChild(field);
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  });
})();
