// The annotators' work page (templates/labeling/annotate.html): answering by keyboard, reordering listwise texts by
// keys or by dragging, measuring how long an answer took, and the undo window. The page works without this file:
// the forms post normally and a listwise ranking is typed as numbers (equal numbers are a tie).
//
// Each answer is an htmx POST whose response is the next card (#comparison-card); this file sets each new card up
// after the swap. Refused answers come back as an error card marked with the header X-ValueFlow-Card: error; htmx
// would drop 404/409 responses, so they are swapped in here (see labeling/views/annotate.py).
(function () {
  "use strict";

  let currentCard = null;
  let cardShownAt = performance.now();
  let requestInFlight = false;
  let instructionsOpen = false; // kept across cards: an annotator who reads along keeps the panel open
  let pendingBestWorst = null; // "best" or "worst" after B or W, waiting for the number of a text
  let undoTimer = null;

  const card = () => document.getElementById("comparison-card");

  // --- setting up each card ------------------------------------------------------------------------------------

  function setUpCard(afterSwap) {
    const element = card();
    currentCard = element;
    if (!element) return;
    cardShownAt = performance.now();
    pendingBestWorst = null;

    const panel = element.querySelector("#instructions-panel");
    if (panel) {
      panel.open = instructionsOpen;
      panel.addEventListener("toggle", () => { instructionsOpen = panel.open; });
    }
    const list = element.querySelector("[data-rank-list]");
    if (list) setUpRankList(list);
    setUpUndo(element);
    // Keys act only on a card that is set up: htmx has wired its forms by now, so an answer pressed right after a
    // swap cannot fall back to a plain form post.
    element.dataset.ready = "true";

    if (afterSwap) {
      // After a swap the next thing to read is the new card: put the keyboard there (the first text of a list).
      const target = element.querySelector("[data-autofocus]") || element.querySelector(".rank-row") || element;
      target.focus({ preventScroll: true });
      const top = element.getBoundingClientRect().top;
      if (top < 0 || top > window.innerHeight * 0.6) element.scrollIntoView({ block: "start" });
    }
  }

  function setUpUndo(element) {
    clearTimeout(undoTimer);
    const form = element.querySelector("form[data-undo]");
    if (!form) return;
    const secondsLeft = Number(form.dataset.secondsLeft || 0);
    undoTimer = setTimeout(() => { form.hidden = true; }, secondsLeft * 1000);
  }

  function toggleDetails(details) {
    if (!details) return;
    details.open = !details.open;
    if (details.id === "instructions-panel") instructionsOpen = details.open;
    if (details.open) details.scrollIntoView({ block: "nearest" });
  }

  // --- listwise ranking: order of the rows → rank numbers (equal numbers are a tie) -------------------------------

  function rows(list) {
    return Array.from(list.querySelectorAll(":scope > .rank-row"));
  }

  function announce(list, text) {
    let region = list.parentElement.querySelector("[data-rank-status]");
    if (!region) {
      region = document.createElement("p");
      region.className = "visually-hidden";
      region.setAttribute("role", "status");
      region.dataset.rankStatus = "";
      list.after(region);
    }
    region.textContent = text;
  }

  // A row "tied" with the one above shares its rank. Competition ranking: after two texts tied at 1 comes 3.
  function renumber(list) {
    const all = rows(list);
    let rank = 0;
    all.forEach((row, index) => {
      if (index === 0) row.dataset.tied = "false";
      const tied = row.dataset.tied === "true";
      rank = tied ? rank : index + 1;
      row.querySelector(".rank-input").value = String(rank);
      row.querySelector("[data-rank-badge]").textContent = String(rank);
      row.querySelector("[data-tie-marker]").hidden = !tied;
      row.classList.toggle("is-tied", tied);
      row.setAttribute("aria-label", `Rank ${rank} of ${all.length}${tied ? ", tied with the text above" : ""}`);
    });
  }

  // Moving rows changes who sits above whom: a tie only holds between the same two neighbours.
  function moveRow(list, row, reference) {
    const before = new Map(rows(list).map((r) => [r, r.previousElementSibling]));
    list.insertBefore(row, reference);
    for (const r of rows(list)) {
      if (before.get(r) !== r.previousElementSibling) r.dataset.tied = "false";
    }
    renumber(list);
  }

  function moveBy(list, row, step) {
    if (step < 0 && row.previousElementSibling) moveRow(list, row, row.previousElementSibling);
    else if (step > 0 && row.nextElementSibling) moveRow(list, row, row.nextElementSibling.nextElementSibling);
    else return;
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    announce(list, `Moved to position ${rows(list).indexOf(row) + 1} of ${rows(list).length}.`);
  }

  function toggleTie(list, row) {
    if (list.dataset.allowTies !== "true" || !row.previousElementSibling) return;
    row.dataset.tied = row.dataset.tied === "true" ? "false" : "true";
    renumber(list);
    announce(list, row.dataset.tied === "true" ? "Tied with the text above." : "No longer tied.");
  }

  function setUpRankList(list) {
    rows(list).forEach((row) => { row.dataset.tied = "false"; });
    renumber(list);
    setUpPointerDrag(list);
  }

  // Dragging with pointer events works for mouse, pen and touch alike. A mouse or pen may grab a text anywhere; a
  // finger only by its handle, so that swiping over the texts still scrolls the page. Near the top or bottom edge of
  // the window the page scrolls, so a long list can be reordered end to end.
  function setUpPointerDrag(list) {
    let drag = null;
    const EDGE = 56;

    // Place the dragged row before the first other row whose middle lies below the pointer.
    const place = (clientY) => {
      const others = rows(list).filter((r) => r !== drag.row);
      const below = others.find((r) => {
        const box = r.getBoundingClientRect();
        return clientY < box.top + box.height / 2;
      }) || null;
      if (below !== drag.row.nextElementSibling) moveRow(list, drag.row, below);
    };

    const autoScroll = () => {
      if (!drag || !drag.active) return;
      const y = drag.lastY;
      const step = y < EDGE ? -Math.ceil((EDGE - y) / 3) : y > window.innerHeight - EDGE
        ? Math.ceil((y - window.innerHeight + EDGE) / 3) : 0;
      if (step) {
        window.scrollBy(0, step);
        place(y);
      }
      drag.frame = requestAnimationFrame(autoScroll);
    };

    list.addEventListener("pointerdown", (event) => {
      const row = event.target.closest(".rank-row");
      if (!row || event.button !== 0) return;
      if (event.pointerType === "touch" && !event.target.closest(".drag-handle")) return;
      drag = { row, pointerId: event.pointerId, startY: event.clientY, lastY: event.clientY, active: false, frame: 0 };
    });

    list.addEventListener("pointermove", (event) => {
      if (!drag || event.pointerId !== drag.pointerId) return;
      drag.lastY = event.clientY;
      if (!drag.active) {
        if (Math.abs(event.clientY - drag.startY) < 6) return; // a click, not a drag
        drag.active = true;
        list.setPointerCapture(event.pointerId);
        drag.row.classList.add("is-dragging");
        document.body.style.userSelect = "none";
        drag.frame = requestAnimationFrame(autoScroll);
      }
      event.preventDefault();
      place(event.clientY);
    });

    const finish = (event) => {
      if (!drag || event.pointerId !== drag.pointerId) return;
      if (drag.active) {
        cancelAnimationFrame(drag.frame);
        drag.row.classList.remove("is-dragging");
        document.body.style.userSelect = "";
        drag.row.focus({ preventScroll: true });
        announce(list, `Moved to position ${rows(list).indexOf(drag.row) + 1} of ${rows(list).length}.`);
      }
      drag = null;
    };
    list.addEventListener("pointerup", finish);
    list.addEventListener("pointercancel", finish);
  }

  // --- keys ------------------------------------------------------------------------------------------------------

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    if (target.closest("textarea, select, [contenteditable='true']")) return true;
    const input = target.closest("input");
    return Boolean(input) && !["radio", "checkbox", "hidden", "submit", "button"].includes(input.type);
  }

  function clickAnswer(element, key) {
    const button = element.querySelector(`button[data-key="${key}"]`);
    if (button && !button.disabled) button.click();
    return Boolean(button);
  }

  function submitAnswer(form) {
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
  }

  function handlePairKey(element, key) {
    if (key === "1" || key === "2") return clickAnswer(element, key);
    if (key === "t" || key === "n") return clickAnswer(element, key);
    return false;
  }

  function handleListKey(element, event) {
    const list = element.querySelector("[data-rank-list]");
    const form = element.querySelector(".answer-form");
    if (!list || !form) return false;
    const focused = document.activeElement && document.activeElement.closest(".rank-row");
    const row = focused && list.contains(focused) ? focused : null;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const up = key === "ArrowUp", down = key === "ArrowDown";
    if ((up || down) && event.shiftKey) {
      if (row) moveBy(list, row, up ? -1 : 1);
      return true;
    }
    if (key === "k" || key === "j") {
      if (row) moveBy(list, row, key === "k" ? -1 : 1);
      return true;
    }
    if (up || down) {
      const all = rows(list);
      const index = row ? all.indexOf(row) + (up ? -1 : 1) : 0;
      const next = all[Math.max(0, Math.min(all.length - 1, index))];
      next.focus({ preventScroll: true });
      next.scrollIntoView({ block: "nearest" });
      return true;
    }
    if (key === "=") {
      if (row) toggleTie(list, row);
      return true;
    }
    if (key === "Enter" && (row || document.activeElement === element || document.activeElement === document.body)) {
      submitAnswer(form);
      return true;
    }
    return false;
  }

  function handleBestWorstKey(element, event) {
    const form = element.querySelector(".answer-form");
    const list = element.querySelector(".bw-list");
    if (!form || !list) return false;
    const key = event.key.toLowerCase();
    const setPending = (value) => {
      pendingBestWorst = value;
      list.classList.toggle("is-pending-best", value === "best");
      list.classList.toggle("is-pending-worst", value === "worst");
    };
    if (key === "b" || key === "w") {
      setPending(key === "b" ? "best" : "worst");
      return true;
    }
    if (/^[1-9]$/.test(key) && pendingBestWorst) {
      const kind = pendingBestWorst;
      const radio = form.querySelector(`input[data-${kind}="${key}"]`);
      if (radio) {
        radio.checked = true;
        // One text cannot be both the best and the worst: choosing it for one clears the other.
        const other = form.querySelector(`input[name="${kind === "best" ? "worst" : "best"}"]:checked`);
        if (other && other.value === radio.value) other.checked = false;
      }
      setPending(null);
      return true;
    }
    if (key === "enter" && !(document.activeElement instanceof HTMLButtonElement)) {
      const best = form.querySelector('input[name="best"]:checked');
      const worst = form.querySelector('input[name="worst"]:checked');
      if (best && worst) submitAnswer(form);
      else setPending(best ? "worst" : "best");
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    const element = card();
    if (!element || element.dataset.ready !== "true") return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    let handled = false;
    if (key === "?") {
      toggleDetails(document.getElementById("key-help"));
      handled = true;
    } else if (key === "i") {
      toggleDetails(element.querySelector("#instructions-panel"));
      handled = true;
    } else if (requestInFlight) {
      // One answer at a time: keys pressed while the previous answer is on its way are dropped.
      handled = ["1", "2", "t", "n", "u", "Enter"].includes(key);
    } else if (key === "u") {
      const undo = element.querySelector("form[data-undo]");
      if (undo && !undo.hidden) submitAnswer(undo);
      handled = Boolean(undo);
    } else {
      const protocol = element.closest("[data-protocol]")?.dataset.protocol;
      if (protocol === "pairwise") handled = handlePairKey(element, key);
      else if (protocol === "listwise") handled = handleListKey(element, event);
      else if (protocol === "best_worst") handled = handleBestWorstKey(element, event);
    }
    if (handled) event.preventDefault();
  });

  // --- latency, in-flight state and error swaps ---------------------------------------------------------------

  // Capture phase: runs before htmx reads the form, so the hidden field travels with the answer.
  document.addEventListener(
    "submit",
    (event) => {
      const field = event.target.querySelector && event.target.querySelector("input[data-latency]");
      if (field) field.value = String(Math.max(0, Math.round(performance.now() - cardShownAt)));
    },
    true,
  );

  document.addEventListener("htmx:beforeRequest", () => { requestInFlight = true; });
  document.addEventListener("htmx:afterRequest", () => { requestInFlight = false; });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-ValueFlow-Card") === "error") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSettle", () => {
    if (card() !== currentCard) setUpCard(true);
  });

  document.addEventListener("DOMContentLoaded", () => setUpCard(false));
})();
