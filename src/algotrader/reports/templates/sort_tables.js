// Click a header to sort a report table (numbers as numbers, "n/a" and blanks last).
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var numeric = th.classList.contains("num");
      var dir = th.dataset.dir === "asc" ? -1 : 1;
      th.dataset.dir = dir === 1 ? "asc" : "desc";
      function key(row) {
        var text = row.cells[col].textContent.trim();
        if (!numeric) { return text; }
        var value = parseFloat(text.replace(/[,%+]/g, ""));
        return isNaN(value) ? null : value;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || x === "") { return 1; }
        if (y === null || y === "") { return -1; }
        return (x < y ? -1 : x > y ? 1 : 0) * dir;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
