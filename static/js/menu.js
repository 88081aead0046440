/* Main menu: on a phone the links fold behind one "Menu" button. Without JavaScript the menu
   simply stays open, so every page remains reachable. */
(function () {
  "use strict";
  var header = document.getElementById("topbar");
  var toggle = document.getElementById("menu-toggle");
  if (!header || !toggle) { return; }
  header.classList.add("collapsible");
  toggle.addEventListener("click", function () {
    var open = header.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
