// Instant feedback on the new-export form. The server applies the rules (exports/rules.py) on
// every keystroke check and on submit; this file only saves the user a round trip. It holds no
// rule of its own: the page hands it the rules and the policy's figures as JSON (#export-rules).
(function () {
  "use strict";

  const form = document.getElementById("export-form");
  const rulesBlock = document.getElementById("export-rules");
  if (!form || !rulesBlock) return;
  const RULES = JSON.parse(rulesBlock.textContent);

  const bucket = form.elements.namedItem("bucket");
  const fileName = form.elements.namedItem("file_name");
  const format = form.elements.namedItem("file_format");
  const quick = document.getElementById("id_quick");
  const quickForced = document.getElementById("quick-forced");
  const formatNote = document.getElementById("format-note");
  const quickNote = document.getElementById("quick-note");
  const extensionWarning = document.getElementById("file-name-warning");
  const fileNameNote = document.getElementById("file-name-note");
  // Each pattern covers the whole name and means the same here (flag u) as in Python.
  const bucketRules = RULES.bucket.rules.map(function (rule) {
    return Object.assign({ regex: new RegExp("^(?:" + rule.pattern + ")$", "u") }, rule);
  });

  function say(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  function showErrors(fieldName, message) {
    const box = document.getElementById("errors-" + fieldName);
    if (!box) return;
    box.replaceChildren();
    if (message) {
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = message;
      box.appendChild(p);
    }
  }

  // rules.check_bucket, run from the rules the server sent.
  function bucketProblem(name) {
    if (!name) return RULES.bucket.missing;
    const broken = [];
    bucketRules.forEach(function (rule) {
      if (rule.after && broken.some(function (b) { return b.name === rule.after; })) return;
      if (rule.regex.test(name) === rule.forbidden) broken.push(rule);
    });
    if (!broken.length) return "";
    const problems = broken.map(function (rule) { return rule.problem; }).join(RULES.bucket.separator);
    return RULES.bucket.problems.replace("{problems}", function () { return problems; });
  }

  function selectedImage() {
    return form.querySelector("input[name=image]:checked");
  }

  // An image of the fast-only size: the box is checked and locked, the reason beside it, and
  // the hidden stand-in sends the value a disabled box would not. The server still decides.
  function applyImageConstraints() {
    const image = selectedImage();
    const mustQuick = Boolean(image && image.dataset.requiresQuick === "true");
    const encrypted = Boolean(image && image.dataset.encrypted === "true");
    if (mustQuick) {
      quick.checked = true;
      say(quickNote, RULES.notes.needs_fast_export);
    } else if (encrypted) {
      quick.checked = false;
      say(quickNote, RULES.notes.encrypted);
    } else {
      say(quickNote, "");
    }
    quick.disabled = mustQuick || encrypted;
    quickForced.disabled = !mustQuick;
    applyQuick();
  }

  // Fast export sends no format: the select is locked and names what will be written.
  function applyQuick() {
    if (quick.checked && format.value) {
      format.value = "";
      say(formatNote, RULES.notes.format_cleared);
    } else if (!quick.checked) {
      say(formatNote, "");
    }
    const noFormat = format.querySelector("option[value='']");
    if (noFormat) noFormat.textContent = quick.checked ? RULES.format_labels.fast : RULES.format_labels.none;
    format.disabled = quick.checked;
    checkExtension();
    suggestFileName();
  }

  // rules.suggested_file_name: the picker carries each image's stem, the extension follows
  // the format. A name the user typed is theirs; only an empty field or our own last
  // suggestion is replaced.
  let lastSuggestion = null;
  function suggestionFor(image) {
    if (!image) return "";
    const extension = quick.checked ? RULES.fast_export_format : format.value;
    const stem = image.dataset.fileNameStem || "";
    return extension && stem ? stem + "." + extension : stem;
  }

  function suggestFileName() {
    const suggestion = suggestionFor(selectedImage());
    if (!suggestion) return;
    if (fileName.value === "" || fileName.value === lastSuggestion) {
      if (fileName.value !== suggestion) {
        fileName.value = suggestion;
        // The as-you-type check follows, so a stale "enter a name" message goes.
        fileName.dispatchEvent(new Event("change", { bubbles: true }));
        checkExtension();
      }
    }
    lastSuggestion = suggestion;
  }

  function checkExtension() {
    const dot = fileName.value.lastIndexOf(".");
    const extension = dot < 0 ? "" : fileName.value.slice(dot + 1).toLowerCase();
    const expected = quick.checked ? RULES.fast_export_format : format.value;
    if (extension && expected && RULES.extensions.includes(extension) && extension !== expected) {
      say(extensionWarning, "The file ends in ." + extension + " but the image is written as " + expected + ".");
    } else {
      say(extensionWarning, "");
    }
  }

  // The picker can list hundreds of images: narrow it as the user types.
  form.addEventListener("input", function (event) {
    if (event.target.id !== "image-filter") return;
    const words = event.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    form.querySelectorAll("#image-picker tbody tr[data-search]").forEach(function (row) {
      row.hidden = !words.every(function (word) { return row.dataset.search.includes(word); });
    });
  });

  bucket.addEventListener("input", function () {
    const problem = bucketProblem(bucket.value);
    bucket.setCustomValidity(problem);
    showErrors("bucket", problem);
    syncBucketPicker();
  });
  quick.addEventListener("change", applyQuick);
  format.addEventListener("change", function () {
    checkExtension();
    suggestFileName();
  });
  fileName.addEventListener("input", function () {
    say(fileNameNote, "");
    checkExtension();
  });
  form.addEventListener("change", function (event) {
    if (event.target.name === "image") {
      applyImageConstraints();
      // The bucket picker re-reads itself for the chosen image's region.
      form.dispatchEvent(new CustomEvent("image-chosen"));
    }
    if (event.target.name === "bucket_pick") chooseBucket(event.target.value);
  });

  // The bucket picker and the bucket field say the same thing: a bucket chosen fills the
  // field (and sets off its as-you-type check, pre-flight included); a name typed checks
  // its row in the picker where it is listed and usable.
  function chooseBucket(name) {
    if (bucket.value === name) return;
    bucket.value = name;
    const problem = bucketProblem(name);
    bucket.setCustomValidity(problem);
    showErrors("bucket", problem);
    bucket.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function syncBucketPicker() {
    form.querySelectorAll("input[name=bucket_pick]").forEach(function (radio) {
      radio.checked = !radio.disabled && radio.value === bucket.value.trim();
    });
  }

  // The pre-flight offers a free file name where the object exists: a button uses it, and
  // where the field still holds the script's own suggestion it is taken at once, so the
  // suggestion is always a name that is free.
  function useFileName(name, why, ours) {
    fileName.value = name;
    // A name the page put there by itself stays its own suggestion; one the user chose is theirs.
    if (ours) lastSuggestion = name;
    say(fileNameNote, why);
    checkExtension();
    fileName.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function afterServerCheck() {
    syncBucketPicker();
    const offer = document.querySelector("#preflight .use-name");
    if (offer && fileName.value === lastSuggestion && fileName.value !== offer.dataset.fileName) {
      useFileName(offer.dataset.fileName, offer.dataset.why || "", true);
    }
  }

  form.addEventListener("click", function (event) {
    const offer = event.target.closest(".use-name");
    if (!offer) return;
    useFileName(offer.dataset.fileName, "", false);
    fileName.focus();
  });

  // The pickers can be swapped ("Refresh list", a new image); the pre-flight arrives with
  // each check of the bucket and the file name: keep everything in step.
  document.body.addEventListener("htmx:afterSwap", function () {
    applyImageConstraints();
    afterServerCheck();
  });
  document.body.addEventListener("htmx:oobAfterSwap", afterServerCheck);

  // After a refused submit the page opens on the error summary: focus it, so it is read
  // out first; each entry's link takes the focus to its field.
  const summary = document.getElementById("error-summary");
  if (summary) {
    summary.addEventListener("click", function (event) {
      const link = event.target.closest("a[href^='#']");
      if (!link) return;
      const target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) return;
      const control = target.matches("input, select, textarea")
        ? target
        : target.querySelector("input[name=image]:checked") ||
          target.querySelector("input[name=image]:not([disabled])");
      if (!control || control.disabled) return;
      event.preventDefault();
      control.focus();
      target.scrollIntoView({ block: "center" });
    });
    summary.focus();
  }

  // A re-rendered form may hold the name we would suggest: treat it as our suggestion.
  lastSuggestion = suggestionFor(selectedImage());
  applyImageConstraints();
  syncBucketPicker();
})();
