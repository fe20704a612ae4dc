// Copy buttons beside identifiers (`<button class="copy" data-copy="<id of the element>">`).
// They are rendered hidden and shown here, so a page without JavaScript offers no dead button;
// one listener on the document serves the buttons htmx swaps in later too.
(function () {
  "use strict";

  function reveal(root) {
    root.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function selectText(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function acknowledge(button, text) {
    const label = button.textContent;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 1500);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.copy[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { acknowledge(button, "Copied"); },
        function () { selectText(source); acknowledge(button, "Press Ctrl+C"); }
      );
    } else {
      // No clipboard API (plain http): select the text so one keystroke copies it.
      selectText(source);
      acknowledge(button, "Press Ctrl+C");
    }
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:afterSettle", function (event) { reveal(event.target); });
})();
