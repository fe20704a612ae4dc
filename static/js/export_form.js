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
  const quick = form.elements.namedItem("quick");
  const formatNote = document.getElementById("format-note");
  const quickNote = document.getElementById("quick-note");
  const extensionWarning = document.getElementById("file-name-warning");
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

  function applyImageConstraints() {
    const image = selectedImage();
    const mustQuick = image && image.dataset.requiresQuick === "true";
    const encrypted = image && image.dataset.encrypted === "true";
    if (mustQuick) {
      quick.checked = true;
      say(quickNote, RULES.notes.needs_fast_export);
    } else if (encrypted) {
      quick.checked = false;
      say(quickNote, RULES.notes.encrypted);
    } else {
      say(quickNote, "");
    }
    quick.disabled = Boolean(encrypted) && !mustQuick;
    applyQuick();
  }

  function applyQuick() {
    if (quick.checked && format.value) {
      format.value = "";
      say(formatNote, RULES.notes.format_cleared);
    } else if (!quick.checked) {
      say(formatNote, "");
    }
    format.disabled = quick.checked;
    format.required = !quick.checked;
    checkExtension();
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
  });
  quick.addEventListener("change", function () {
    const image = selectedImage();
    if (!quick.checked && image && image.dataset.requiresQuick === "true") {
      quick.checked = true; // the cloud refuses a normal export of this image (IMG.0160)
    }
    applyQuick();
  });
  format.addEventListener("change", checkExtension);
  fileName.addEventListener("input", checkExtension);
  form.addEventListener("change", function (event) {
    if (event.target.name === "image") applyImageConstraints();
  });
  // The picker can be swapped by "Refresh list"; keep the constraints in step.
  document.body.addEventListener("htmx:afterSwap", applyImageConstraints);
  applyImageConstraints();
})();
