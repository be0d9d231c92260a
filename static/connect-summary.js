// The connect summary's auto-continue: back to the partner after the countdown, unless the merchant
// starts changing the site selection (then the Save or Continue button decides).
(function () {
  "use strict";
  var link = document.getElementById("continue");
  var countdown = document.getElementById("countdown");
  if (!link || !countdown) { return; }
  var left = parseInt(countdown.getAttribute("data-seconds"), 10) || 5;
  var timer = window.setInterval(function () {
    left -= 1;
    countdown.textContent = String(Math.max(left, 0));
    if (left <= 0) {
      window.clearInterval(timer);
      window.location.assign(link.href);
    }
  }, 1000);
  var form = document.getElementById("sites-form");
  if (!form) { return; }
  var stop = function () {
    window.clearInterval(timer);
    var note = document.getElementById("auto-continue");
    if (note) { note.textContent = "Save your site selection, or continue when you are ready."; }
    var save = document.getElementById("save-sites");
    if (save) { save.disabled = form.querySelectorAll("input[name=site]:checked").length === 0; }
  };
  form.addEventListener("change", stop);
  form.addEventListener("focusin", stop);
})();
