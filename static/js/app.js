// ml-connector page helpers: copy buttons, confirmations, menus. Everything works without it; it only helps.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (e.g. a self-hosted install without TLS): the older way still works there.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  // <button data-copy-target="element-id">Copy</button>: copies that element's text and says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) { return; }
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    var status = document.getElementById(button.getAttribute("aria-describedby") || "");
    copyText((source.value || source.textContent).trim()).then(function () {
      button.textContent = "Copied";
      if (status) { status.textContent = "Copied to the clipboard."; }
    }, function () {
      button.textContent = "Select and copy it by hand";
      if (status) { status.textContent = "Your browser did not allow copying: select the text and copy it."; }
    }).then(function () {
      window.setTimeout(function () { button.textContent = label; }, 2500);
    });
  });

  // <form data-confirm="Are you sure?">: asks before submitting (pages also confirm on the server).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // Menus (<details data-menu>) close on Escape and when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) { summary.focus(); }
    });
  });

  // <select data-autosubmit>: submits its form on change (a submit button stays for keyboards and no-JS).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) { select.form.requestSubmit(); }
  });

  // <select data-browser-zone>: a new business's time zone starts as the browser's own (still editable).
  document.querySelectorAll("select[data-browser-zone]").forEach(function (select) {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (select.value === "UTC" && zone && select.querySelector('option[value="' + zone + '"]')) {
      select.value = zone;
    }
  });
})();
