// govex console: small progressive enhancements; every page works without this script.
(function () {
  "use strict";

  // print buttons: <button data-print>
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-print]") : null;
    if (target) {
      event.preventDefault();
      window.print();
    }
  });

  // session countdown in the header; at zero, go to the sign-in page
  var expiry = document.querySelector("[data-expires-in]");
  if (expiry) {
    var left = parseInt(expiry.getAttribute("data-expires-in"), 10);
    var out = expiry.querySelector(".countdown");
    var end = Date.now() + left * 1000;
    var tick = function () {
      var s = Math.max(0, Math.round((end - Date.now()) / 1000));
      if (out) { out.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
      if (s === 0) {
        window.location.assign("/console/login?expired=1&next=" + encodeURIComponent(window.location.pathname));
        return;
      }
      window.setTimeout(tick, 1000);
    };
    tick();
  }

  // a chosen file fills the text box of the same form: <input type=file data-fill="id">
  document.querySelectorAll("input[type=file][data-fill]").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var box = document.getElementById(input.getAttribute("data-fill"));
      if (!file || !box || /^image\//.test(file.type)) { return; }  // a QR picture is read by the server
      file.text().then(function (text) { box.value = text; });
    });
  });
  // a matter chosen in a grant request checks the fields it reads: <input data-fields="a,b">
  document.querySelectorAll("input[data-fields]").forEach(function (matter) {
    matter.addEventListener("change", function () {
      if (!matter.checked || !matter.form) return;
      var wanted = matter.getAttribute("data-fields").split(",");
      matter.form.querySelectorAll("input[name=fields]").forEach(function (box) {
        if (wanted.indexOf(box.value) >= 0) box.checked = true;
      });
    });
  });
})();
