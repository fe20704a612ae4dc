// Instant feedback on the new-export form. The server applies the same rules (exports/rules.py)
// on every keystroke check and on submit; this file only saves the user a round trip.
(function () {
  "use strict";

  const form = document.getElementById("export-form");
  if (!form) return;

  const bucket = form.elements.namedItem("bucket");
  const fileName = form.elements.namedItem("file_name");
  const format = form.elements.namedItem("file_format");
  const quick = form.elements.namedItem("quick");
  const formatNote = document.getElementById("format-note");
  const quickNote = document.getElementById("quick-note");
  const extensionWarning = document.getElementById("file-name-warning");
  const EXTENSIONS = ["qcow2", "vhd", "zvhd", "zvhd2", "vmdk"];

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

  // Mirrors rules.check_bucket.
  function bucketProblem(name) {
    if (!name) return "Enter the name of the OBS bucket.";
    const problems = [];
    if (name.length < 3 || name.length > 63) problems.push("must be 3 to 63 characters long");
    if (!/^[a-z0-9.-]+$/.test(name)) {
      problems.push("may contain only lowercase letters, digits, hyphens and periods");
    } else if (!/^[a-z0-9].*[a-z0-9]$|^[a-z0-9]$/.test(name)) {
      problems.push("must start and end with a letter or digit");
    }
    if (/\.\.|\.-|-\./.test(name)) problems.push("must not contain '..', '.-' or '-.'");
    if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) problems.push("must not be shaped like an IP address");
    return problems.length ? "The bucket name " + problems.join("; ") + "." : "";
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
      say(quickNote, "This image is 128 GB or more: only fast export is possible.");
    } else if (encrypted) {
      quick.checked = false;
      say(quickNote, "Encrypted images cannot use fast export.");
    } else {
      say(quickNote, "");
    }
    quick.disabled = Boolean(encrypted) && !mustQuick;
    applyQuick();
  }

  function applyQuick() {
    if (quick.checked && format.value) {
      format.value = "";
      say(formatNote, "Fast export always writes ZVHD2, so the format was cleared.");
    } else if (!quick.checked) {
      say(formatNote, "");
    }
    format.disabled = quick.checked;
    format.required = !quick.checked;
    checkExtension();
  }

  function checkExtension() {
    const match = /\.([a-z0-9]+)$/i.exec(fileName.value);
    const extension = match ? match[1].toLowerCase() : "";
    const expected = quick.checked ? "zvhd2" : format.value;
    if (extension && expected && EXTENSIONS.includes(extension) && extension !== expected) {
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
