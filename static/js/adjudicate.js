// The disagreement queue by keyboard: 1 / 2 choose the stronger text, T a tie, D dismisses the pair.
// Each key clicks the matching button of the current card (buttons carry data-key), so the same htmx request runs
// as for a click; without JavaScript the buttons post normally.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var key = event.key.toLowerCase();
    var button = document.querySelector('#adjudication-card button[data-key="' + key + '"]');
    if (!button || button.disabled) return;
    event.preventDefault();
    button.click();
  });
})();
