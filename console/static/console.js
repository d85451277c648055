// The console's only script (the CSP allows no inline script): a character counter under each
// limited text box, and a confirmation before a form marked data-confirm (closing a ticket).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("textarea[data-counter]").forEach(function (box) {
    var used = box.parentElement.querySelector(".counter .used");
    var limit = parseInt(box.getAttribute("data-counter"), 10);
    function update() {
      used.textContent = box.value.length;
      used.parentElement.classList.toggle("over", box.value.length >= limit);
    }
    box.addEventListener("input", update);
    update();
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
});
