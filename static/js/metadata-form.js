// Progressive enhancement of the schema-driven metadata form (templates/metadata/).
// Without JavaScript, "Add another ..." submits the form and the server adds a blank row;
// with it, the row is added in place from the list's <template>, and "remove" dims a row.
(function () {
  "use strict";

  function addRow(list, button) {
    var template = list.querySelector(":scope > template[data-template]");
    var rows = list.querySelector(":scope > input[data-rows]");
    if (!template || !rows) return false;
    var index = parseInt(rows.value, 10) || 0;
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.split("__index__").join(String(index));
    var row = holder.firstElementChild;
    list.insertBefore(row, button);
    rows.value = String(index + 1);
    var first = row.querySelector("input:not([type=hidden]):not([type=checkbox]), select, textarea");
    if (first) first.focus();
    return true;
  }

  document.querySelectorAll("form[data-metadata-form]").forEach(function (form) {
    form.addEventListener("click", function (event) {
      var button = event.target.closest("[data-add]");
      if (!button) return;
      var list = button.closest("[data-list]");
      if (list && addRow(list, button)) event.preventDefault();
    });
    form.addEventListener("change", function (event) {
      if (!event.target.matches("[data-remove]")) return;
      var row = event.target.closest("[data-row]");
      if (row) row.classList.toggle("removed", event.target.checked);
    });
  });

  // A link to a field (the to-do list, the deposition page's "Fix: edit ...") opens the
  // collapsed groups around it, then shows it.
  function reveal(id) {
    if (!id) return;
    var target = document.getElementById(decodeURIComponent(id));
    if (!target) return;
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    target.scrollIntoView({ block: "center" });
    if (target.focus) target.focus({ preventScroll: true });
  }
  reveal(location.hash.slice(1));
  window.addEventListener("hashchange", function () { reveal(location.hash.slice(1)); });
})();
